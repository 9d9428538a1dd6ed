"""Token connections (personal access and private integration tokens) through the real
server against the emulators: what the test counts, and what refused credentials do."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.emulators.suite import ProviderEmulators
from tests.fixtures.gateway import running_gateway
from tests.gateway.connecting import PROVIDERS, build, connect_settings, holder

WRONG = {
    "pco": {"app_id": "0" * 32, "secret": "1" * 64},
    "ghl": {"private_integration_token": "pit-wrong"},
    "calendly": {"personal_access_token": "eyJwrong"},
    "google": {"refresh_token": "1//wrong"},
}


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_token_connection_counts_what_the_provider_holds_and_refused_ones_error(
    tmp_path: Path, providers: ProviderEmulators, store_url: str, provider: str
) -> None:
    held = holder(providers, provider)
    wrong = held.token_credentials | WRONG[provider]
    settings = connect_settings(tmp_path, providers, database_url=store_url)
    async with running_gateway(settings, build) as gateway:
        good = await gateway.add_source(provider, tenant="acme", credentials=held.token_credentials)
        bad = await gateway.add_source(provider, tenant="acme", credentials=wrong)
        tested = (await gateway.admin.post(f"/admin/sources/{good['id']}/test")).json()
        refused = (await gateway.admin.post(f"/admin/sources/{bad['id']}/test")).json()
        after_refusal = (await gateway.admin.get(f"/admin/sources/{bad['id']}")).json()
        patched = await gateway.admin.patch(
            f"/admin/sources/{bad['id']}", json={"credentials": held.token_credentials}
        )
        retested = (await gateway.admin.post(f"/admin/sources/{bad['id']}/test")).json()
        listed = (await gateway.admin.get("/admin/sources")).text

    assert tested["ok"] is True, tested
    assert tested["counts"] == held.counts
    assert tested["account"]["id"] == held.account_id
    assert isinstance(tested["latency_ms"], int)
    assert (refused["ok"], refused["error"]) == (False, "unauthorized"), refused
    assert refused["detail"]
    assert after_refusal["status"] == "error"
    assert patched.status_code == 200
    assert patched.json()["status"] == "active"
    assert retested["ok"] is True
    for secret in held.token_credentials.values():
        if secret != held.account_id and provider != "google":
            assert secret not in listed


@pytest.mark.parametrize(
    ("provider", "credentials", "field"),
    [
        ("pco", {"app_id": "a"}, "credentials.secret"),
        ("ghl", {"private_integration_token": "pit-x"}, "credentials.location_id"),
        (
            "ghl",
            {"private_integration_token": "pit-x", "location_id": "a\nb"},
            "credentials.location_id",
        ),
        ("calendly", {"personal_access_token": " "}, "credentials.personal_access_token"),
        ("calendly", {"token": "x"}, "credentials.personal_access_token"),
    ],
)
async def test_unusable_token_credentials_get_400_naming_the_field(
    tmp_path: Path,
    providers: ProviderEmulators,
    provider: str,
    credentials: dict[str, str],
    field: str,
) -> None:
    settings = connect_settings(tmp_path, providers)
    async with running_gateway(settings, build) as gateway:
        created = await gateway.admin.post(
            "/admin/sources",
            json={"provider": provider, "tenant": "acme", "credentials": credentials},
        )
        source = await gateway.add_source("calendly", tenant="acme", secret="s")
        patched = await gateway.admin.patch(
            f"/admin/sources/{source['id']}", json={"credentials": {"personal_access_token": ""}}
        )

    assert created.status_code == 400, created.text
    assert created.json()["field"] == field
    assert patched.status_code == 400
    assert patched.json()["field"] == "credentials.personal_access_token"


async def test_a_passing_test_brings_a_source_in_error_back(
    tmp_path: Path, providers: ProviderEmulators, sqlite_url: str
) -> None:
    held = holder(providers, "pco")
    settings = connect_settings(tmp_path, providers, database_url=sqlite_url)
    async with running_gateway(settings, build) as gateway:
        source = await gateway.add_source_id(
            "pco", tenant="acme", credentials=held.token_credentials
        )
        await gateway.app.state.context.sources.set_status(source, "error", "unauthorized")
        tested = (await gateway.admin.post(f"/admin/sources/{source}/test")).json()
        shown = (await gateway.admin.get(f"/admin/sources/{source}")).json()

    assert tested["ok"] is True, tested
    assert (shown["status"], shown["status_detail"]) == ("active", None)
