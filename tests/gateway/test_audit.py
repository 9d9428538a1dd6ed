"""The audit log: every change through the admin API, an OAuth callback or the CLI is
recorded with who made it and how it ended, and no secret or token ever reaches it."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.routing import Mount, Route

from consumers.retention import audit_pruner
from gateway.admin.actor import actor_of
from gateway.admin.audit import action_of
from gateway.cli import build_parser
from gateway.commands import sources as sources_command
from gateway.runtime.serve import build_app
from gateway.store.audit import AuditEntry, AuditLog
from gateway.store.migrate import upgrade
from schemas.tables import audit_log
from tests.emulators.suite import ProviderEmulators
from tests.fixtures.gateway import (
    ADMIN_TOKEN,
    FrozenClock,
    RunningGateway,
    make_settings,
    running_gateway,
)
from tests.fixtures.postgres import disposed_engine
from tests.gateway.connecting import connect, connect_settings, holder, redirect_query
from tests.imports.syncing import finished, start_sync

CALENDLY_SECRET = "calendly-signing-key-0001"
ROTATED_SECRET = "calendly-signing-key-0002"
WRITES = {"POST", "PUT", "PATCH", "DELETE"}


async def dump(gateway: RunningGateway) -> list[dict[str, Any]]:
    async with gateway.app.state.context.engine.connect() as connection:
        rows = await connection.execute(select(audit_log).order_by(audit_log.c.id))
        return [dict(row) for row in rows.mappings()]


async def test_every_change_is_recorded_with_its_actor_and_outcome_and_no_secret(
    tmp_path: Path, providers: ProviderEmulators
) -> None:
    pco = holder(providers, "pco")
    ghl = holder(providers, "ghl")
    settings = connect_settings(tmp_path, providers)
    async with running_gateway(settings, build_app) as gateway:
        admin = gateway.admin
        source = await gateway.add_source_id(
            "pco", tenant="church", credentials=pco.token_credentials
        )
        await admin.patch(
            f"/admin/sources/{source}",
            json={"credentials": pco.token_credentials, "options": {"default_region": "GB"}},
        )
        calendly = await gateway.add_source_id("calendly", tenant="acme", secret=CALENDLY_SECRET)
        await admin.post(f"/admin/sources/{calendly}/secret", json={"secret": ROTATED_SECRET})
        await admin.post(f"/admin/sources/{source}/test")
        sync_id = await start_sync(gateway, source)
        await finished(gateway, sync_id)
        await admin.post(f"/admin/syncs/{sync_id}/cancel")
        await admin.post(f"/admin/sources/{source}/disconnect")
        await admin.delete(f"/admin/sources/{source}")
        await admin.delete(f"/admin/sources/{source}")
        connected = redirect_query(await connect(gateway, providers, "ghl", ghl.account))
        tokens = await gateway.app.state.context.sources.credentials(connected["source_id"])
        args = argparse.Namespace(source_id=calendly)
        assert await sources_command.run_remove(args, settings) == 0
        entries = await dump(gateway)

    ghl_source = connected["source_id"]
    assert [
        (e["actor"], e["action"], e["source_id"], e["tenant"], e["outcome"]) for e in entries
    ] == [
        ("admin", "source.create", source, "church", "ok"),
        ("admin", "source.update", source, "church", "ok"),
        ("admin", "source.create", calendly, "acme", "ok"),
        ("admin", "source.rotate_secret", calendly, "acme", "ok"),
        ("admin", "source.test", source, "church", "ok"),
        ("admin", "source.sync", source, "church", "ok"),
        ("admin", "sync.cancel", source, "church", "sync_not_running"),
        ("admin", "source.disconnect", source, "church", "ok"),
        ("admin", "source.delete", source, "church", "ok"),
        ("admin", "source.delete", None, None, "unknown_source"),
        ("admin", "connect.start", None, "acme", "ok"),
        ("oauth", "connect.callback", ghl_source, "acme", "ok"),
        ("cli", "source.delete", calendly, "acme", "ok"),
    ]
    assert orjson.loads(entries[1]["detail"])["fields"] == [
        "credentials",
        "credentials.app_id",
        "credentials.secret",
        "options",
        "options.default_region",
    ]
    assert orjson.loads(entries[6]["detail"])["sync_id"] == sync_id
    secrets = {
        *pco.token_credentials.values(),
        *ghl.token_credentials.values(),
        *tokens.values(),
        CALENDLY_SECRET,
        ROTATED_SECRET,
        ADMIN_TOKEN,
    } - {pco.account_id, ghl.account_id, pco.token_credentials["app_id"]}
    assert len(secrets) >= 6
    everything = "\n".join(str(entry) for entry in entries)
    for secret in secrets:
        assert secret not in everything


async def test_cli_changes_are_recorded_as_the_cli_without_their_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(tmp_path)
    await upgrade(settings.database_url)
    for argv in (
        ["sources", "add", "calendly", "--tenant", "acme", "--secret", CALENDLY_SECRET],
        ["replay"],
    ):
        args = build_parser().parse_args(argv)
        assert await args.run(args, settings) == 0
    source = orjson.loads(capsys.readouterr().out.splitlines()[0])["id"]
    async with disposed_engine(settings.database_url) as engine:
        entries = await AuditLog(engine, datetime.now).page(source_id=None, limit=10, before=None)

    assert [(e["actor"], e["action"], e["source_id"], e["outcome"]) for e in entries] == [
        ("cli", "dead_letters.replay", None, "ok"),
        ("cli", "source.create", source, "ok"),
    ]
    assert entries[0]["detail"] == {"replayed": 0, "failed": 0}
    assert entries[1]["detail"] == {"fields": ["secret"]}
    assert CALENDLY_SECRET not in str(entries)


async def test_the_log_pages_newest_first_and_per_source(gateway: RunningGateway) -> None:
    made = [await gateway.add_source_id("calendly", tenant="acme", secret="s") for _ in range(3)]
    first = (await gateway.admin.get("/admin/audit", params={"limit": 2})).json()
    rest = (
        await gateway.admin.get("/admin/audit", params={"limit": 2, "before": first["next_before"]})
    ).json()
    one = (await gateway.admin.get("/admin/audit", params={"source_id": made[1]})).json()
    bad = await gateway.admin.get("/admin/audit", params={"limit": "many"})

    assert [e["source_id"] for e in first["entries"]] == [made[2], made[1]]
    assert [e["source_id"] for e in rest["entries"]] == [made[0]]
    assert rest["next_before"] is None
    assert [(e["source_id"], e["action"]) for e in one["entries"]] == [(made[1], "source.create")]
    assert (bad.status_code, bad.json()["field"]) == (400, "limit")


async def test_refused_requests_are_recorded_with_their_error_code(
    gateway: RunningGateway,
) -> None:
    sent = {"provider": "calendly", "tenant": "ac\nme", "secret": CALENDLY_SECRET}
    refused = await gateway.admin.post("/admin/sources", json=sent)
    unread = await gateway.admin.post("/admin/sources", json=sent | {"tenant": "x" * 5000})
    entries = (await gateway.admin.get("/admin/audit")).json()["entries"]

    assert (refused.status_code, unread.status_code) == (400, 400)
    assert [(e["action"], e["tenant"], e["outcome"]) for e in entries] == [
        ("source.create", None, "invalid_request"),
        ("source.create", None, "invalid_request"),
    ]
    assert entries[1]["detail"] == {"fields": ["provider", "secret", "tenant"]}
    assert CALENDLY_SECRET not in str(entries)


async def test_every_admin_write_route_is_audited(tmp_path: Path) -> None:
    async with running_gateway(make_settings(tmp_path), build_app) as gateway:
        mount = next(r for r in gateway.app.routes if isinstance(r, Mount) and r.path == "/admin")
        writes = [r for r in mount.routes if isinstance(r, Route) and (r.methods or set()) & WRITES]

    assert len(writes) >= 12
    assert [r.path for r in writes if action_of(r) is None] == []


@pytest.mark.parametrize(
    ("marked", "actor"), [({}, "admin"), ({"hookgate.actor": "console"}, "console")]
)
def test_the_console_marks_its_requests_and_the_bearer_token_is_the_admin(
    marked: dict[str, str], actor: str
) -> None:
    assert actor_of(Request({"type": "http", **marked})) == actor


async def test_entries_older_than_the_retention_are_pruned(engine: AsyncEngine) -> None:
    now = datetime(2026, 12, 7, tzinfo=UTC)
    clock = FrozenClock(now)
    log = AuditLog(engine, clock)
    for age in (91, 89):
        clock.now = now - timedelta(days=age)
        await log.record(AuditEntry(actor="admin", action=f"aged.{age}"))

    removed = await audit_pruner(engine)(now - timedelta(days=90))
    left = await log.page(source_id=None, limit=10, before=None)

    assert removed == 1
    assert [entry["action"] for entry in left] == ["aged.89"]
