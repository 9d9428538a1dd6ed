"""The Google emulator's connect additions through HTTP: code grant, calendars, account."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from tests.emulators.flows import connect
from tests.emulators.suite import ProviderEmulators


async def test_a_connected_account_sees_its_calendars_and_email(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    google = providers.google
    google.calendar("team@group.calendar.google.com")
    await google.create_event("primary", summary="Standup", start=datetime(2030, 1, 1, tzinfo=UTC))
    tokens = await connect(http, providers, "google", google.account())
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    base = providers.api_base("google")

    calendars = (
        await http.get(f"{base}/calendar/v3/users/me/calendarList", headers=headers)
    ).json()
    primary = (await http.get(f"{base}/calendar/v3/calendars/primary", headers=headers)).json()
    events = (
        await http.get(f"{base}/calendar/v3/calendars/{google.email}/events", headers=headers)
    ).json()
    userinfo = (await http.get(f"{base}/oauth2/v3/userinfo", headers=headers)).json()

    assert [(item["id"], item.get("primary", False)) for item in calendars["items"]] == [
        (google.email, True),
        ("team@group.calendar.google.com", False),
    ]
    assert primary["id"] == google.email
    assert [item["summary"] for item in events["items"]] == ["Standup"]
    assert userinfo["email"] == google.email
    assert tokens["refresh_token"]


async def test_a_refresh_token_from_add_client_still_refreshes_at_the_same_url(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    google = providers.google
    legacy = google.add_client("legacy-client", "legacy-secret")
    answer = await http.post(
        providers.token_url("google"),
        data={
            "grant_type": "refresh_token",
            "refresh_token": legacy,
            "client_id": "legacy-client",
            "client_secret": "legacy-secret",
        },
    )
    assert answer.status_code == 200
    assert google.counters.token_refreshes == 1


async def test_an_expired_connect_token_is_401(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    tokens = await connect(http, providers, "google", providers.google.account())
    providers.google.expire_access_tokens()
    answer = await http.get(
        f"{providers.api_base('google')}/calendar/v3/users/me/calendarList",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert answer.status_code == 401
