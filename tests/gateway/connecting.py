"""Helpers for the connect tests: a gateway pointed at the provider emulators, each
provider's account with a known number of records, and the browser's part of the flow."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette

from gateway.app import create_app, utc_now
from gateway.runtime.connect import Connections
from gateway.settings import Settings
from tests.emulators.suite import ProviderEmulators
from tests.emulators.tokens import OAuthAccount
from tests.fixtures.gateway import RunningGateway, make_settings

PROVIDERS = ("pco", "ghl", "calendly", "google")
REDIRECT_TO = "https://app.example.com/integrations"


def connect_settings(tmp: Path, providers: ProviderEmulators, **overrides: Any) -> Settings:
    """Settings pointing every provider (API and OAuth app) at the emulators."""
    env = {
        name.removeprefix("HOOKGATE_").lower(): value
        for name, value in providers.settings().items()
    }
    return make_settings(tmp, **(env | overrides))


def build(settings: Settings, clock: Callable[[], datetime] | None = None) -> Starlette:
    connections = Connections()
    return create_app(
        settings,
        clock=clock or utc_now,
        admin_routes=[connections.admin_routes],
        public_routes=[connections.public_routes],
    )


@dataclass(frozen=True)
class Holder:
    """An account at a provider and what the emulator holds for it."""

    account: OAuthAccount
    account_id: str
    counts: dict[str, int]
    token_credentials: dict[str, str]


def holder(providers: ProviderEmulators, provider: str) -> Holder:
    """A fresh account at `provider` with a few records, and a personal token of it."""
    if provider == "pco":
        org = providers.pco.add_organization("First Church")
        providers.pco.add_people(org, 3)
        app_id, secret = providers.pco.add_personal_access_token(org)
        return Holder(
            providers.pco.account(org), org.id, {"members": 3}, {"app_id": app_id, "secret": secret}
        )
    if provider == "ghl":
        location = providers.ghl.add_location("Acme Dental")
        providers.ghl.add_contacts(location, 4)
        token = providers.ghl.add_private_integration_token(location)
        return Holder(
            providers.ghl.account(location),
            location.id,
            {"contacts": 4},
            {"private_integration_token": token, "location_id": location.id},
        )
    if provider == "calendly":
        calendly_org = providers.calendly.add_organization("Acme Scheduling")
        user = providers.calendly.add_user(calendly_org, "Olive Owner")
        providers.calendly.add_events(user, 5, datetime(2030, 1, 1, tzinfo=UTC))
        token = providers.calendly.add_personal_access_token(user)
        return Holder(
            providers.calendly.account(user),
            providers.calendly.org_uri(calendly_org),
            {"scheduled_events": 5},
            {"personal_access_token": token},
        )
    google = providers.google
    google.calendar("team@group.calendar.google.com")
    client_id, client_secret = providers.client("google")
    account = google.account()
    refresh_token, _ = google.oauth.grant(client_id, account)
    return Holder(
        account,
        google.email,
        {"calendars": 2},
        {"client_id": client_id, "client_secret": client_secret, "refresh_token": refresh_token},
    )


async def start(
    gateway: RunningGateway,
    provider: str,
    *,
    tenant: str = "acme",
    redirect_to: str | None = REDIRECT_TO,
) -> str:
    """`POST /admin/connect/{provider}`: the authorization URL."""
    body = {"tenant": tenant} | ({"redirect_to": redirect_to} if redirect_to else {})
    answer = await gateway.admin.post(f"/admin/connect/{provider}", json=body)
    assert answer.status_code == 200, answer.text
    url: str = answer.json()["authorize_url"]
    return url


async def authorize(authorize_url: str) -> str:
    """The browser at the provider: where the provider sends it back (the callback URL)."""
    async with httpx.AsyncClient(timeout=10) as browser:
        answer = await browser.get(authorize_url)
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


async def connect(
    gateway: RunningGateway,
    providers: ProviderEmulators,
    provider: str,
    account: OAuthAccount,
    **options: Any,
) -> httpx.Response:
    """The whole flow, approved by `account`: the callback's answer."""
    providers.oauth_servers()[provider].approve(account)
    callback = await authorize(await start(gateway, provider, **options))
    return await gateway.client.get(callback)


def redirect_query(answer: httpx.Response) -> dict[str, str]:
    assert answer.status_code == 303, answer.text
    location = httpx.URL(answer.headers["location"])
    assert str(location.copy_with(query=None)) == REDIRECT_TO
    return dict(location.params)


async def sources(gateway: RunningGateway) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = (await gateway.admin.get("/admin/sources")).json()["sources"]
    return listed
