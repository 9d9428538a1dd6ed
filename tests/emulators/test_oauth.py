"""The emulated OAuth servers, through HTTP: the behaviour hookgate's connect relies on."""

from __future__ import annotations

import secrets
from datetime import timedelta

import httpx
import pytest

from tests.emulators.conftest import Clock
from tests.emulators.flows import (
    REDIRECT_URI,
    authorize,
    connect,
    exchange,
    redirect_query,
    refresh,
    token_request,
)
from tests.emulators.suite import ProviderEmulators


async def test_calendly_code_flow_with_pkce_gives_a_token_the_api_accepts(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    calendly = providers.calendly
    org = calendly.add_organization()
    user = calendly.add_user(org)
    calendly.oauth.approve(calendly.account(user))
    verifier = secrets.token_urlsafe(48)

    answer = redirect_query(await authorize(http, providers, "calendly", verifier=verifier))
    assert answer["state"] == "state-1"
    exchanged = await token_request(
        http,
        providers,
        "calendly",
        {
            "grant_type": "authorization_code",
            "code": answer["code"],
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        },
        basic=True,
    )

    assert exchanged.status_code == 200, exchanged.text
    tokens = exchanged.json()
    assert tokens["owner"] == calendly.user_uri(user)
    assert tokens["organization"] == calendly.org_uri(org)
    assert tokens["expires_in"] == 7200
    assert {"refresh_token", "created_at", "access_token"} <= set(tokens)
    me = await http.get(
        f"{providers.api_base('calendly')}/users/me",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert me.json()["resource"]["current_organization"] == calendly.org_uri(org)


async def test_a_wrong_pkce_verifier_is_refused(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    calendly = providers.calendly
    calendly.oauth.approve(calendly.account(calendly.add_user(calendly.add_organization())))
    answer = redirect_query(await authorize(http, providers, "calendly", verifier="a" * 43))

    wrong = await exchange(http, providers, "calendly", answer["code"], verifier="b" * 43)

    assert (wrong.status_code, wrong.json()["error"]) == (400, "invalid_grant")
    assert calendly.oauth.counters.invalid_grant == 1


async def test_pkce_without_s256_is_refused_at_authorize(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    calendly = providers.calendly
    calendly.oauth.approve(calendly.account(calendly.add_user(calendly.add_organization())))
    answer = redirect_query(await authorize(http, providers, "calendly", code_challenge="x" * 43))
    assert (answer["error"], answer["state"]) == ("invalid_request", "state-1")


async def test_a_code_is_single_use_and_its_reuse_revokes_its_tokens(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    pco = providers.pco
    org = pco.add_organization()
    pco.oauth.approve(pco.account(org))
    code = redirect_query(await authorize(http, providers, "pco"))["code"]

    first = await exchange(http, providers, "pco", code)
    second = await exchange(http, providers, "pco", code)

    assert first.status_code == 200
    assert (second.status_code, second.json()["error"]) == (400, "invalid_grant")
    api = await http.get(
        f"{providers.api_base('pco')}/people/v2",
        headers={"Authorization": f"Bearer {first.json()['access_token']}"},
    )
    assert api.status_code == 401


async def test_an_expired_code_and_a_wrong_redirect_uri_are_refused(
    clocked: tuple[ProviderEmulators, Clock], http: httpx.AsyncClient
) -> None:
    emulators, clock = clocked
    pco = emulators.pco
    pco.oauth.approve(pco.account(pco.add_organization()))
    late = redirect_query(await authorize(http, emulators, "pco"))["code"]
    elsewhere = redirect_query(await authorize(http, emulators, "pco"))["code"]

    moved = await exchange(http, emulators, "pco", elsewhere, redirect_uri="https://evil.example")
    clock.moment += timedelta(minutes=11)
    expired = await exchange(http, emulators, "pco", late)

    assert moved.json()["error"] == "invalid_grant"
    assert expired.json()["error"] == "invalid_grant"


async def test_denied_consent_redirects_with_access_denied_and_the_state(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    providers.ghl.oauth.deny()
    answer = redirect_query(await authorize(http, providers, "ghl", state="s-42"))
    assert answer["error"] == "access_denied"
    assert answer["state"] == "s-42"
    assert "code" not in answer


async def test_an_unknown_client_or_redirect_uri_gets_no_redirect(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    providers.pco.oauth.add_client("strict", "s", redirect_uris=[REDIRECT_URI])
    unknown = await authorize(http, providers, "pco", client_id="nobody")
    unregistered = await authorize(
        http, providers, "pco", client_id="strict", redirect_uri="https://evil.example/cb"
    )
    assert unknown.status_code == 400
    assert unregistered.status_code == 400


async def test_rotated_refresh_token_reuse_is_invalid_grant(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    ghl = providers.ghl
    location = ghl.add_location()
    account = ghl.account(location)
    tokens = await connect(http, providers, "ghl", account)

    rotated = await refresh(http, providers, "ghl", tokens["refresh_token"])
    reused = await refresh(http, providers, "ghl", tokens["refresh_token"])
    again = await refresh(http, providers, "ghl", rotated.json()["refresh_token"])

    assert rotated.status_code == 200
    assert rotated.json()["refresh_token"] != tokens["refresh_token"]
    assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")
    assert again.status_code == 200
    assert ghl.oauth.counters.refreshes == {account.user_id: 2}
    assert ghl.oauth.counters.token_requests == {"authorization_code": 1, "refresh_token": 3}


async def test_ghl_token_answer_names_the_location(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    ghl = providers.ghl
    location = ghl.add_location()
    account = ghl.account(location, "user-7")
    tokens = await connect(http, providers, "ghl", account)
    assert tokens["locationId"] == location.id
    assert tokens["companyId"] == location.company_id
    assert (tokens["userType"], tokens["userId"]) == ("Location", "user-7")
    assert tokens["expires_in"] == 86399


async def test_google_refresh_tokens_do_not_rotate_and_need_offline_consent(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    google = providers.google
    tokens = await connect(http, providers, "google", google.account())
    first = await refresh(http, providers, "google", tokens["refresh_token"])
    second = await refresh(http, providers, "google", tokens["refresh_token"])
    online = redirect_query(await authorize(http, providers, "google"))
    without_prompt = redirect_query(
        await authorize(http, providers, "google", access_type="offline")
    )

    assert (first.status_code, second.status_code) == (200, 200)
    assert "refresh_token" not in first.json()
    assert "refresh_token" not in (await exchange(http, providers, "google", online["code"])).json()
    again = await exchange(http, providers, "google", without_prompt["code"])
    assert "refresh_token" not in again.json()


async def test_wrong_client_credentials_are_invalid_client(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    form = {"grant_type": "refresh_token", "refresh_token": "whatever"}
    wrong = await token_request(http, providers, "pco", form, secret="nope")
    basic = await token_request(http, providers, "pco", form, basic=True)
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_client")
    assert (basic.status_code, basic.json()["error"]) == (401, "invalid_client")
    assert providers.pco.oauth.counters.invalid_client == 2


async def test_an_expired_access_token_is_401_until_refreshed(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    pco = providers.pco
    tokens = await connect(http, providers, "pco", pco.account(pco.add_organization()))
    url = f"{providers.api_base('pco')}/people/v2"

    providers.registry.expire("pco")
    expired = await http.get(url, headers={"Authorization": f"Bearer {tokens['access_token']}"})
    renewed = (await refresh(http, providers, "pco", tokens["refresh_token"])).json()
    fresh = await http.get(url, headers={"Authorization": f"Bearer {renewed['access_token']}"})

    assert expired.status_code == 401
    assert fresh.status_code == 200


async def test_calendly_allows_eight_token_requests_per_user_a_minute(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    calendly = providers.calendly
    tokens = await connect(
        http,
        providers,
        "calendly",
        calendly.account(calendly.add_user(calendly.add_organization())),
    )
    refresh_token = tokens["refresh_token"]
    for _ in range(7):
        answer = await refresh(http, providers, "calendly", refresh_token)
        assert answer.status_code == 200
        refresh_token = answer.json()["refresh_token"]

    refused = await refresh(http, providers, "calendly", refresh_token)

    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert calendly.oauth.refresh_token_valid(refresh_token)  # not consumed by the refusal


@pytest.mark.parametrize("provider", ["pco", "google"])
async def test_revoking_kills_the_refresh_and_access_tokens(
    providers: ProviderEmulators, http: httpx.AsyncClient, provider: str
) -> None:
    account = (
        providers.google.account()
        if provider == "google"
        else providers.pco.account(providers.pco.add_organization())
    )
    tokens = await connect(http, providers, provider, account)
    revoke_url = providers.settings()[f"HOOKGATE_{provider.upper()}_REVOKE_URL"]

    revoked = await http.post(revoke_url, data={"token": tokens["refresh_token"]})
    after = await refresh(http, providers, provider, tokens["refresh_token"])

    assert revoked.status_code == 200
    assert after.json()["error"] == "invalid_grant"
    assert providers.registry.lookup(provider, tokens["access_token"]) is None


async def test_an_injected_token_endpoint_fault_consumes_no_code(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    pco = providers.pco
    pco.oauth.approve(pco.account(pco.add_organization()))
    code = redirect_query(await authorize(http, providers, "pco"))["code"]
    pco.oauth.token_faults.inject(502)

    failed = await exchange(http, providers, "pco", code)
    retried = await exchange(http, providers, "pco", code)

    assert failed.status_code == 502
    assert retried.status_code == 200
