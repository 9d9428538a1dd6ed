"""Webhooks provisioned on connect and removed on disconnect, through the real server
(with its embedded consumers) against the provider emulators."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.runtime.serve import build_app
from schemas.store import appointments, bookings, members
from tests.emulators.suite import ProviderEmulators
from tests.fixtures.gateway import running_gateway
from tests.gateway.connecting import connect, connect_settings, holder, redirect_query
from tests.gateway.provisioning import post_delivery, rows_of, wait_for_rows
from tests.imports.syncing import finished

PCO_EVENTS = {
    f"people.v2.events.{resource}.{action}"
    for resource in ("person", "email", "phone_number")
    for action in ("created", "updated", "destroyed")
}


async def test_pco_connect_subscribes_each_people_event_and_its_deliveries_apply(
    tmp_path: Path, providers: ProviderEmulators, store_url: str, engine: AsyncEngine
) -> None:
    held = holder(providers, "pco")
    org = providers.pco.organizations[held.account_id]
    providers.pco.deliver = post_delivery
    settings = connect_settings(tmp_path, providers, database_url=store_url)
    async with running_gateway(settings, build_app) as gateway:
        source_id = redirect_query(await connect(gateway, providers, "pco", held.account))[
            "source_id"
        ]
        shown = (await gateway.admin.get(f"/admin/sources/{source_id}")).json()
        first = {s.id for s in org.subscriptions.values()}
        await providers.pco.add_person(org, "Ada", "Lovelace", emails=["ada@example.com"])
        everyone = len(org.people)  # the initial import's and Ada, delivered by webhook
        applied = await wait_for_rows(engine, members, "acme", everyone)
        emails = await member_emails(engine, "acme", waiting_for="ada@example.com")
        redirect_query(await connect(gateway, providers, "pco", held.account))
        again = await gateway.admin.post(f"/admin/sources/{source_id}/webhooks")

    assert shown["webhooks"] == "provisioned", shown
    assert {s.name for s in org.subscriptions.values()} == PCO_EVENTS
    assert {s.url for s in org.subscriptions.values()} == {shown["url"]}
    assert applied == everyone
    assert "ada@example.com" in emails
    assert all(status == 200 for *_, status in providers.pco.delivered)
    assert again.status_code == 200, again.text
    assert {s.id for s in org.subscriptions.values()} == first  # reused, none added


async def test_calendly_connect_subscribes_the_organization_with_a_key_of_its_own(
    tmp_path: Path, providers: ProviderEmulators, store_url: str, engine: AsyncEngine
) -> None:
    held = holder(providers, "calendly")
    org = next(iter(providers.calendly.organizations.values()))
    host = next(iter(org.users.values()))
    providers.calendly.uri_base = providers.api_base("calendly")
    providers.calendly.deliver = post_delivery
    settings = connect_settings(tmp_path, providers, database_url=store_url)
    async with running_gateway(settings, build_app) as gateway:
        source_id = redirect_query(await connect(gateway, providers, "calendly", held.account))[
            "source_id"
        ]
        shown = (await gateway.admin.get(f"/admin/sources/{source_id}")).json()
        redirect_query(await connect(gateway, providers, "calendly", held.account))
        event = next(iter(org.events.values()))
        await providers.calendly.add_invitee(event, "Grace Hopper", "grace@example.com")
        # the initial import's bookings, and Grace's, delivered by webhook
        everyone = sum(len(each.invitees) for each in org.events.values())
        applied = await wait_for_rows(engine, bookings, "acme", everyone)

    assert shown["webhooks"] == "provisioned", shown
    assert shown["has_secret"] is True
    (subscription,) = org.subscriptions.values()  # exactly one after the reconnect
    assert (subscription.callback_url, subscription.scope) == (shown["url"], "organization")
    assert host.uuid == subscription.creator_uuid
    assert applied == everyone
    assert [status for *_, status in providers.calendly.delivered] == [200]


async def test_google_connect_opens_a_channel_whose_notifications_sync(
    tmp_path: Path, providers: ProviderEmulators, store_url: str, engine: AsyncEngine
) -> None:
    held = holder(providers, "google")
    google = providers.google

    async def notify(address: str, headers: dict[str, str]) -> int:
        return await post_delivery(address, headers, b"")

    google.deliver = notify
    settings = connect_settings(tmp_path, providers, database_url=store_url)
    async with running_gateway(settings, build_app) as gateway:
        source_id = redirect_query(await connect(gateway, providers, "google", held.account))[
            "source_id"
        ]
        shown = (await gateway.admin.get(f"/admin/sources/{source_id}")).json()
        opened = len(google.delivered)
        await google.create_event(
            "primary", summary="Standup", start=datetime(2030, 1, 6, 9, tzinfo=UTC)
        )
        applied = await wait_for_rows(engine, appointments, "acme", 1)
        metrics = (await gateway.client.get("/metrics")).text

    assert shown["webhooks"] == "provisioned", shown
    (channel,) = google.channels.values()
    assert (channel.calendar_id, channel.address) == ("primary", shown["url"])
    assert opened == 1  # the channel's `sync` message, answered before the change
    changed = google.delivered[opened:]
    assert [headers["X-Goog-Resource-State"] for _, headers, _ in changed] == ["exists"]
    assert [status for *_, status in google.delivered] == [200] * len(google.delivered)
    assert applied == 1
    assert 'hookgate_google_syncs_total{trigger="notification"}' in metrics


async def test_calendly_without_webhooks_in_its_plan_is_manual(
    tmp_path: Path, providers: ProviderEmulators, sqlite_url: str
) -> None:
    org = providers.calendly.add_organization("Free Scheduling", plan="free")
    user = providers.calendly.add_user(org, "Fran Free")
    settings = connect_settings(tmp_path, providers, database_url=sqlite_url)
    async with running_gateway(settings, build_app) as gateway:
        answer = await connect(gateway, providers, "calendly", providers.calendly.account(user))
        source_id = redirect_query(answer)["source_id"]
        importing = (await gateway.admin.get(f"/admin/sources/{source_id}")).json()
        await finished(gateway, importing["last_sync"]["id"])  # the initial import
        shown = (await gateway.admin.get(f"/admin/sources/{source_id}")).json()

    assert (shown["status"], shown["webhooks"]) == ("active", "manual")
    assert "403" in shown["webhooks_detail"]
    assert org.subscriptions == {}


async def test_disconnect_removes_subscriptions_revokes_and_keeps_rows(
    tmp_path: Path, providers: ProviderEmulators, store_url: str, engine: AsyncEngine
) -> None:
    held = holder(providers, "pco")
    org = providers.pco.organizations[held.account_id]
    providers.pco.deliver = post_delivery
    settings = connect_settings(tmp_path, providers, database_url=store_url)
    async with running_gateway(settings, build_app) as gateway:
        source_id = redirect_query(await connect(gateway, providers, "pco", held.account))[
            "source_id"
        ]
        await providers.pco.add_person(org, "Ada", "Lovelace")
        before = await wait_for_rows(engine, members, "acme", len(org.people))
        revocations = providers.pco.oauth.counters.revocations
        done = await gateway.admin.post(f"/admin/sources/{source_id}/disconnect")
        again = await gateway.admin.post(f"/admin/sources/{source_id}/disconnect")
        shown = (await gateway.admin.get(f"/admin/sources/{source_id}")).json()
        url, headers, body, _ = providers.pco.delivered[0]
        replayed = await post_delivery(url, headers, body)
        await providers.pco.add_person(org, "Bob", "Late")  # no subscription: not sent
        kept = await rows_of(engine, members, "acme")

    assert done.status_code == 200, done.text
    assert done.json()["token_revoked"] is True
    assert providers.pco.oauth.counters.revocations == revocations + 1
    assert again.status_code == 200
    assert (shown["status"], shown["has_credentials"], shown["webhooks"]) == (
        "disconnected",
        False,
        "none",
    )
    assert org.subscriptions == {}
    assert replayed == 403
    assert len(providers.pco.delivered) == 1
    assert kept == before


async def test_google_connect_opens_one_channel_and_disconnect_stops_it(
    tmp_path: Path, providers: ProviderEmulators, store_url: str
) -> None:
    held = holder(providers, "google")
    google = providers.google
    settings = connect_settings(tmp_path, providers, database_url=store_url)
    async with running_gateway(settings, build_app) as gateway:
        source_id = redirect_query(await connect(gateway, providers, "google", held.account))[
            "source_id"
        ]
        redirect_query(await connect(gateway, providers, "google", held.account))
        shown = (await gateway.admin.get(f"/admin/sources/{source_id}")).json()
        opened = len(google.active_channels())
        revocations = google.oauth.counters.revocations
        done = await gateway.admin.post(f"/admin/google/{source_id}/disconnect")
        after = (await gateway.admin.get(f"/admin/sources/{source_id}")).json()

    assert shown["webhooks"] == "provisioned", shown
    assert opened == 1  # the reconnect's channel replaced the first one
    assert done.status_code == 200, done.text
    assert google.active_channels() == []
    assert google.oauth.counters.revocations == revocations + 1
    assert (after["status"], after["has_credentials"]) == ("disconnected", False)


async def member_emails(
    engine: AsyncEngine, tenant: str, *, waiting_for: str, timeout: float = 15.0
) -> set[str]:
    """The tenant's members' emails once `waiting_for` is among them (its own delivery,
    `email.created`, may be applied after its person's), or as they are at `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        async with engine.connect() as connection:
            found = await connection.execute(
                select(members.c.email).where(members.c.tenant == tenant)
            )
            emails = {email for (email,) in found if email}
        if waiting_for in emails or time.monotonic() > deadline:
            return emails
        await asyncio.sleep(0.1)
