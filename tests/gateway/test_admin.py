"""The admin API: bearer token, sources CRUD, secrets encrypted and never echoed, rotation."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.app import create_app
from gateway.store.secretbox import SecretBox, SecretKeyError
from gateway.store.sources import SourceRepository
from schemas.tables import sources
from tests.fixtures.gateway import (
    SECRET_KEYS,
    FrozenClock,
    RunningGateway,
    make_settings,
    running_gateway,
)
from tests.gateway import deliveries

SECRET = "calendly-very-secret-signing-key"


async def test_admin_requires_the_bearer_token(gateway: RunningGateway) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}):
        for method, path in (
            ("GET", "/admin/sources"),
            ("POST", "/admin/sources"),
            ("GET", "/admin/sources/src_x"),
            ("DELETE", "/admin/sources/src_x"),
            ("POST", "/admin/sources/src_x/secret"),
        ):
            response = await gateway.client.request(method, path, headers=headers)
            assert response.status_code == 401, (method, path, headers)
            assert response.json()["error"] == "unauthorized"


async def test_admin_is_off_without_a_configured_token(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, admin_token=None)
    async with running_gateway(settings, create_app) as running:
        response = await running.client.get(
            "/admin/sources", headers={"Authorization": "Bearer anything"}
        )
    assert response.status_code == 503
    assert response.json()["error"] == "admin_disabled"


async def test_sources_crud_never_returns_secrets(gateway: RunningGateway) -> None:
    created = await gateway.add_source("calendly", tenant="acme", secret=SECRET)
    assert created["url"] == f"{gateway.base_url}/webhooks/calendly/{created['id']}"
    assert (created["provider"], created["tenant"], created["has_secret"]) == (
        "calendly",
        "acme",
        True,
    )
    listed = await gateway.admin.get("/admin/sources")
    shown = await gateway.admin.get(f"/admin/sources/{created['id']}")
    for response in (listed, shown):
        assert response.status_code == 200
        assert SECRET not in response.text
    assert [s["id"] for s in listed.json()["sources"]] == [created["id"]]
    assert (await gateway.admin.delete(f"/admin/sources/{created['id']}")).status_code == 204
    assert (await gateway.admin.get(f"/admin/sources/{created['id']}")).status_code == 404


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"provider": "calendly", "tenant": "acme"}, "invalid_request", "secret"),
        ({"provider": "ghl", "tenant": "acme", "secret": "x"}, "invalid_request", "secret"),
        ({"provider": "google", "tenant": "acme"}, "invalid_request", "credentials"),
        (
            {"provider": "stripe", "tenant": "acme", "secret": "whsec_x", "credentials": {}},
            "invalid_source",
            "credentials.secret_key",
        ),
        (
            {
                "provider": "stripe",
                "tenant": "acme",
                "secret": "whsec_x",
                "credentials": {"secret_key": "pk_test_publishable"},
            },
            "invalid_source",
            "credentials.secret_key",
        ),
        ({"provider": "nope", "tenant": "acme"}, "unknown_provider", "provider"),
        ({"provider": "pco"}, "invalid_request", "tenant"),
    ],
)
async def test_bad_source_requests_say_why(
    gateway: RunningGateway, body: dict[str, str], code: str, field: str
) -> None:
    response = await gateway.admin.post("/admin/sources", json=body)
    assert response.status_code == 400
    assert response.json()["error"] == code
    assert response.json()["field"] == field
    assert response.json()["detail"]
    assert (await gateway.admin.get("/admin/sources")).json()["sources"] == []


async def test_secrets_are_stored_encrypted(gateway: RunningGateway) -> None:
    created = await gateway.add_source("calendly", tenant="acme", secret=SECRET)
    google = await gateway.add_source(
        "google",
        tenant="acme",
        credentials={"client_id": "cid", "client_secret": "g-secret-1", "refresh_token": "r-tok-1"},
    )
    engine = create_async_engine(gateway.settings.database_url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(sources))).all()
    finally:
        await engine.dispose()
    raw = b"".join(repr(tuple(row)).encode() for row in rows)
    for plaintext in (SECRET, "g-secret-1", "r-tok-1"):
        assert plaintext.encode() not in raw
    by_id = {row.id: row for row in rows}
    box = SecretBox(SECRET_KEYS)
    assert box.decrypt(by_id[created["id"]].secret_ciphertext) == SECRET
    assert b"r-tok-1" in box.decrypt(by_id[google["id"]].credentials_ciphertext).encode()


async def test_key_rotation_keeps_old_secrets_readable_and_rekey_moves_them(
    gateway: RunningGateway, tmp_path: Path
) -> None:
    created = await gateway.add_source("calendly", tenant="acme", secret=SECRET)
    engine = create_async_engine(gateway.settings.database_url)
    try:
        rotated_box = SecretBox(("brand-new-key-0123456789abcdef", *SECRET_KEYS))
        repo = SourceRepository(engine, rotated_box)
        found = await repo.credentials(created["id"])  # no credentials: still readable
        assert found == {}
        secrets = await repo.secrets(created["id"], now=gateway.app.state.context.clock())
        assert secrets is not None
        assert secrets.secrets == (SECRET,)
        assert await repo.rekey() == 1
        only_new = SourceRepository(engine, SecretBox(("brand-new-key-0123456789abcdef",)))
        again = await only_new.secrets(created["id"], now=gateway.app.state.context.clock())
        assert again is not None
        assert again.secrets == (SECRET,)
        only_old = SourceRepository(engine, SecretBox(("some-other-key-0123456789abcdef",)))
        with pytest.raises(SecretKeyError):
            await only_old.secrets(created["id"], now=gateway.app.state.context.clock())
    finally:
        await engine.dispose()


async def test_secret_rotation_keeps_the_old_secret_for_the_grace_period(
    gateway: RunningGateway, clock: FrozenClock
) -> None:
    created = await gateway.add_source("calendly", tenant="acme", secret=deliveries.CALENDLY_KEY)
    url = f"/webhooks/calendly/{created['id']}"

    async def post_with(key: str) -> httpx.Response:
        signed = deliveries.calendly(clock.now, key=key)
        return await gateway.client.post(url, content=signed.body, headers=signed.headers)

    rotated = await gateway.admin.post(
        f"/admin/sources/{created['id']}/secret", json={"secret": "the-next-key"}
    )
    assert rotated.status_code == 200
    assert "the-next-key" not in rotated.text
    assert (await post_with("the-next-key")).status_code == 200
    assert (await post_with(deliveries.CALENDLY_KEY)).status_code == 200
    clock.now += timedelta(seconds=gateway.settings.secret_grace_seconds + 1)
    gateway.app.state.context.cache.invalidate(created["id"])
    refused = await post_with(deliveries.CALENDLY_KEY)
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_signature"
    assert (await post_with("the-next-key")).status_code == 200


async def test_admin_token_and_secrets_never_in_metrics(gateway: RunningGateway) -> None:
    await gateway.add_source("calendly", tenant="acme", secret=SECRET)
    metrics = (await gateway.client.get("/metrics")).text
    assert SECRET not in metrics
    assert "acme" not in metrics
    assert gateway.settings.admin_token is not None
    assert gateway.settings.admin_token.get_secret_value() not in metrics


def test_settings_repr_hides_secrets(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, admin_token=SecretStr("hidden-admin-token"))
    assert "hidden-admin-token" not in repr(settings)
    assert SECRET_KEYS[0] not in repr(settings)


async def test_a_stripe_source_takes_its_endpoint_secret_and_api_key(
    gateway: RunningGateway,
) -> None:
    created = await gateway.add_source(
        "stripe", tenant="acme", secret="whsec_endpoint", credentials={"secret_key": "sk_test_k1"}
    )
    shown = await gateway.admin.get(f"/admin/sources/{created['id']}")
    assert shown.json()["has_credentials"] is True
    assert "whsec_endpoint" not in shown.text
    assert "sk_test_k1" not in shown.text
