"""A poison event never stops the line: the embedded default, served, on both stores.

Genuinely signed deliveries go through the real server (`build_app`: the embedded
consumer on the spool, the store on SQLite or PostgreSQL). One event the store
refuses (a trigger the test installs, refusing one email: as a value the database
refuses, or a bug, would) is parked in `dead_letters`, shown by `hookgate_dlq_events`
and `hookgate replay --list`, while every tenant's next events are applied within
seconds; once the trigger is dropped ("the fix"), `hookgate replay` applies it.
Values that would poison the store are made safe before it: a year-9999 time is
refused at the edge (400), a NUL in a name is dropped.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.cli import build_parser
from gateway.runtime.serve import build_app
from schemas import samples
from tests.fixtures.gateway import RunningGateway, make_settings, running_gateway
from tests.gateway import deliveries
from tests.kafka.consuming import eventually

POISON = "poison@example.com"
APPLIED_WITHIN_SECONDS = 15.0

SQLITE_TRIGGER = [
    "CREATE TRIGGER refuse_poison BEFORE INSERT ON bookings "
    f"WHEN NEW.email = '{POISON}' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
]
POSTGRES_TRIGGER = [
    "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    f"IF NEW.email = '{POISON}' THEN RAISE EXCEPTION 'refused by the test'; END IF; "
    "RETURN NEW; END $$",
    "CREATE TRIGGER refuse_poison BEFORE INSERT ON bookings "
    "FOR EACH ROW EXECUTE FUNCTION refuse_poison()",
]


@contextlib.asynccontextmanager
async def served(
    tmp_path: Path, store_url: str
) -> AsyncIterator[tuple[RunningGateway, dict[str, str]]]:
    """The app `serve` runs, and a Calendly source for each of two tenants."""
    settings = make_settings(tmp_path, database_url=store_url)
    async with running_gateway(settings, build_app) as gateway:
        sources = {
            tenant: (
                await gateway.add_source("calendly", tenant=tenant, secret=deliveries.CALENDLY_KEY)
            )["id"]
            for tenant in ("acme", "globex")
        }
        yield gateway, sources


async def deliver(gateway: RunningGateway, source: str, body: bytes) -> dict[str, str]:
    signed = deliveries.calendly(datetime.now(UTC), body=body)
    response = await gateway.client.post(
        f"/webhooks/calendly/{source}", content=signed.body, headers=signed.headers
    )
    answer: dict[str, str] = response.json()
    answer["status"] = str(response.status_code)
    return answer


def invitee(email: str, name: str = "Ada Lovelace") -> bytes:
    return samples.calendly("invitee.created", now=datetime.now(UTC), email=email, name=name)


async def emails(engine: AsyncEngine) -> dict[str, str]:
    async with engine.connect() as connection:
        found = await connection.execute(text("SELECT email, tenant FROM bookings"))
        return {row[0]: row[1] for row in found}


async def replay(gateway: RunningGateway, *argv: str) -> int:
    args = build_parser().parse_args(["replay", *argv])
    code: int = await args.run(args, gateway.settings)
    return code


async def test_a_poison_event_is_parked_the_line_goes_on_and_replay_applies_it(
    tmp_path: Path, store_url: str, engine: AsyncEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    postgres = engine.dialect.name == "postgresql"
    async with engine.begin() as connection:
        for statement in POSTGRES_TRIGGER if postgres else SQLITE_TRIGGER:
            await connection.exec_driver_sql(statement)
    async with served(tmp_path, store_url) as (gateway, sources):
        assert (await deliver(gateway, sources["acme"], invitee(POISON)))["status"] == "200"
        for tenant in ("acme", "globex"):
            assert (await deliver(gateway, sources[tenant], invitee(f"next@{tenant}.example")))[
                "status"
            ] == "200"

        async def the_next_are_applied() -> bool:
            return await emails(engine) == {
                "next@acme.example": "acme",
                "next@globex.example": "globex",
            }

        await eventually(the_next_are_applied, timeout=APPLIED_WITHIN_SECONDS, what="the next")

        async def one_dead_letter_shown() -> bool:
            metrics = (await gateway.client.get("/metrics")).text
            return re.search(r"^hookgate_dlq_events 1\.0$", metrics, re.MULTILINE) is not None

        await eventually(one_dead_letter_shown, timeout=5, what="hookgate_dlq_events 1")
        assert await replay(gateway, "--list") == 0
        listed = capsys.readouterr().out
        assert "calendly.invitee.created" in listed
        assert "refused by the test" in listed
        assert POISON not in listed  # no payload in the listing
        assert "1 dead letter(s) waiting" in listed

        assert await replay(gateway) == 1  # not fixed yet: it stays parked
        assert "0 replayed, 1 failed" in capsys.readouterr().out
        async with engine.begin() as connection:
            await connection.exec_driver_sql(
                "DROP TRIGGER refuse_poison" + (" ON bookings" if postgres else "")
            )

        assert await replay(gateway) == 0
        assert "1 replayed, 0 failed" in capsys.readouterr().out
        assert (await emails(engine))[POISON] == "acme"
        assert await replay(gateway, "--list") == 0
        assert "0 dead letter(s) waiting" in capsys.readouterr().out


async def test_a_time_in_year_9999_is_refused_at_the_edge_and_the_line_goes_on(
    tmp_path: Path, store_url: str, engine: AsyncEngine
) -> None:
    far = orjson.loads(invitee("far@acme.example"))
    far["payload"]["updated_at"] = "9999-12-31T23:59:59.999999Z"
    async with served(tmp_path, store_url) as (gateway, sources):
        refused = await deliver(gateway, sources["acme"], orjson.dumps(far))
        assert refused["status"] == "400"
        assert refused["error"] == "malformed_payload"
        assert "`payload.updated_at`" in refused["detail"]
        assert (await deliver(gateway, sources["acme"], invitee("next@acme.example")))[
            "status"
        ] == "200"

        async def applied() -> bool:
            return await emails(engine) == {"next@acme.example": "acme"}

        await eventually(applied, timeout=APPLIED_WITHIN_SECONDS, what="the next event")


async def test_a_nul_in_a_name_is_dropped_and_the_event_applied(
    tmp_path: Path, store_url: str, engine: AsyncEngine
) -> None:
    async with served(tmp_path, store_url) as (gateway, sources):
        body = invitee("nul@acme.example", name="Ada\x00 Lovelace")
        assert b"\\u0000" in body
        assert (await deliver(gateway, sources["acme"], body))["status"] == "200"

        async def applied() -> bool:
            async with engine.connect() as connection:
                names = (await connection.execute(text("SELECT name FROM bookings"))).scalars()
                return list(names) == ["Ada Lovelace"]

        await eventually(applied, timeout=APPLIED_WITHIN_SECONDS, what="the booking")
