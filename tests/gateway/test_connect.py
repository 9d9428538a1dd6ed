"""OAuth connect through the real server against the provider emulators: the flow,
the account learned, a reconnect, and every answer that makes no source."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from gateway.runtime.serve import build_app
from tests.emulators.suite import ProviderEmulators
from tests.fixtures.gateway import FrozenClock, RunningGateway, running_gateway
from tests.gateway.connecting import (
    PROVIDERS,
    authorize,
    build,
    connect,
    connect_settings,
    holder,
    redirect_query,
    sources,
    start,
)


@pytest.fixture
async def gateway(
    tmp_path: Path, providers: ProviderEmulators, sqlite_url: str
) -> AsyncIterator[RunningGateway]:
    settings = connect_settings(tmp_path, providers, database_url=sqlite_url)
    async with running_gateway(settings, build) as running:
        yield running


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_connect_makes_an_active_source_of_the_account_and_reconnect_updates_it(
    tmp_path: Path, providers: ProviderEmulators, store_url: str, provider: str
) -> None:
    settings = connect_settings(tmp_path, providers, database_url=store_url)
    held = holder(providers, provider)
    async with running_gateway(settings, build) as gateway:
        first = redirect_query(await connect(gateway, providers, provider, held.account))
        source_id = first["source_id"]
        shown = (await gateway.admin.get(f"/admin/sources/{source_id}")).json()
        tested = (await gateway.admin.post(f"/admin/sources/{source_id}/test")).json()
        again = redirect_query(await connect(gateway, providers, provider, held.account))
        listed = await sources(gateway)

    assert first["status"] == "active"
    assert (shown["provider"], shown["tenant"], shown["status"]) == (provider, "acme", "active")
    assert shown["account"]["id"] == held.account_id
    assert shown["webhooks"] == ("provisioned" if provider in ("pco", "calendly") else "none")
    assert shown["has_credentials"] is True
    assert tested["ok"] is True, tested
    assert tested["account"]["id"] == held.account_id
    assert tested["counts"] == held.counts
    assert again == {"source_id": source_id, "status": "active"}
    assert [s["id"] for s in listed] == [source_id]


async def test_the_authorization_request_is_each_providers_own(
    gateway: RunningGateway, providers: ProviderEmulators
) -> None:
    for provider in PROVIDERS:
        providers.oauth_servers()[provider].approve(holder(providers, provider).account)
        await authorize(await start(gateway, provider))
    logged = {p: providers.oauth_servers()[p].authorize_log[-1] for p in PROVIDERS}

    redirect = f"{gateway.base_url}/oauth/{{}}/callback"
    for provider, query in logged.items():
        assert query["redirect_uri"] == redirect.format(provider)
        assert query["client_id"] == providers.client(provider)[0]
    assert {p for p, q in logged.items() if q.get("code_challenge_method") == "S256"} == {
        "google",
        "calendly",
    }
    assert not {p for p, q in logged.items() if "code_challenge" in q} - {"google", "calendly"}
    assert (logged["google"]["access_type"], logged["google"]["prompt"]) == ("offline", "consent")


async def test_a_state_is_good_once_and_only_as_signed(
    gateway: RunningGateway, providers: ProviderEmulators
) -> None:
    held = holder(providers, "calendly")
    providers.calendly.oauth.approve(held.account)
    callback = httpx.URL(await authorize(await start(gateway, "calendly")))
    state = callback.params["state"]
    tampered = callback.copy_merge_params(
        {"state": state[:-2] + ("A" if state[-2] != "A" else "B") + state[-1]}
    )
    other_provider = str(callback).replace("/oauth/calendly/", "/oauth/pco/")

    refused_first = [await gateway.client.get(str(url)) for url in (tampered, other_provider)]
    used = await gateway.client.get(str(callback))
    replayed = await gateway.client.get(str(callback))

    for answer in (*refused_first, replayed):
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"] == "invalid_state"
    assert used.status_code == 303
    assert len(await sources(gateway)) == 1


async def test_denied_consent_and_a_failed_exchange_make_no_source(
    gateway: RunningGateway, providers: ProviderEmulators
) -> None:
    held = holder(providers, "pco")
    providers.pco.oauth.deny()
    denied = await gateway.client.get(await authorize(await start(gateway, "pco")))
    providers.pco.oauth.approve(held.account)
    providers.pco.oauth.token_faults.inject(500)
    failed = await gateway.client.get(await authorize(await start(gateway, "pco")))
    rejected_code = httpx.URL(await authorize(await start(gateway, "pco")))
    bad_code = await gateway.client.get(str(rejected_code.copy_merge_params({"code": "forged"})))

    assert redirect_query(denied) == {"status": "denied"}
    for answer in (failed, bad_code):
        assert answer.status_code == 502, answer.text
        assert answer.json()["error"] == "token_exchange_failed"
    assert await sources(gateway) == []


async def test_without_redirect_to_a_page_says_connected(
    gateway: RunningGateway, providers: ProviderEmulators
) -> None:
    held = holder(providers, "ghl")
    answer = await connect(gateway, providers, "ghl", held.account, redirect_to=None)

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert "Connected" in answer.text
    assert [s["account"]["id"] for s in await sources(gateway)] == [held.account_id]


async def test_connect_without_an_oauth_app_is_503_and_bad_input_400(
    tmp_path: Path, providers: ProviderEmulators
) -> None:
    settings = connect_settings(tmp_path, providers, pco_client_secret=None)
    async with running_gateway(settings, build) as gateway:
        unconfigured = await gateway.admin.post("/admin/connect/pco", json={"tenant": "acme"})
        unknown = await gateway.admin.post("/admin/connect/nope", json={"tenant": "acme"})
        bad_redirect = await gateway.admin.post(
            "/admin/connect/ghl", json={"tenant": "acme", "redirect_to": "javascript:alert(1)"}
        )

    assert (unconfigured.status_code, unconfigured.json()["error"]) == (503, "oauth_not_configured")
    assert (unknown.status_code, unknown.json()["error"]) == (404, "unknown_provider")
    assert (bad_redirect.status_code, bad_redirect.json()["field"]) == (400, "redirect_to")


async def test_hookgate_serve_serves_the_connect_routes(
    tmp_path: Path, providers: ProviderEmulators
) -> None:
    held = holder(providers, "pco")
    settings = connect_settings(tmp_path, providers)
    async with running_gateway(settings, build_app) as gateway:
        answer = await connect(gateway, providers, "pco", held.account)
        forged = await gateway.client.get("/oauth/pco/callback?code=x&state=forged")

    assert redirect_query(answer)["status"] == "active"
    assert (forged.status_code, forged.json()["error"]) == (400, "invalid_state")


async def test_a_state_expires_after_ten_minutes(
    tmp_path: Path, providers: ProviderEmulators
) -> None:
    clock = FrozenClock(datetime.now(UTC))
    providers.ghl.oauth.approve(holder(providers, "ghl").account)
    settings = connect_settings(tmp_path, providers)
    async with running_gateway(settings, lambda s: build(s, clock)) as gateway:
        late = await authorize(await start(gateway, "ghl"))
        in_time = await authorize(await start(gateway, "ghl"))
        clock.now += timedelta(minutes=9)
        taken = await gateway.client.get(in_time)
        clock.now += timedelta(minutes=2)
        expired = await gateway.client.get(late)
        listed = await sources(gateway)

    assert redirect_query(taken)["status"] == "active"
    assert (expired.status_code, expired.json()["error"]) == (400, "invalid_state")
    assert len(listed) == 1


async def test_one_account_connects_once_per_tenant(
    gateway: RunningGateway, providers: ProviderEmulators
) -> None:
    held = holder(providers, "pco")
    first = redirect_query(await connect(gateway, providers, "pco", held.account, tenant="acme"))
    other = redirect_query(await connect(gateway, providers, "pco", held.account, tenant="beta"))
    moved = await gateway.admin.patch(
        f"/admin/sources/{other['source_id']}", json={"tenant": "acme"}
    )

    assert first["source_id"] != other["source_id"]
    assert (moved.status_code, moved.json()["error"]) == (409, "account_connected")
    assert sorted(s["tenant"] for s in await sources(gateway)) == ["acme", "beta"]
