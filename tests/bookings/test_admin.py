"""The booking routes through the served app on the embedded default, against the
Calendly and Stripe emulators, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.bookings.served import (
    CHECKOUT,
    PRICE,
    BookingWorld,
    book_and_check_out,
    booking_world,
    intent,
    schedule,
    state_becomes,
)
from tests.emulators.suite import ProviderEmulators
from tests.emulators.tokens import utc_now
from tests.imports.syncing import serving, sync


async def test_intent_scheduled_paid_is_confirmed(
    tmp_path: Path, store_url: str, engine: AsyncEngine, providers: ProviderEmulators
) -> None:
    async with serving(tmp_path, providers, store_url) as gateway:
        world = await booking_world(providers, gateway)
        listed = await gateway.admin.get(f"/admin/calendly/{world.calendly_source}/event-types")
        assert listed.status_code == 200, listed.text
        [event_type] = listed.json()["event_types"]
        assert (event_type["uri"], event_type["price"]) == (world.event_type_uri, PRICE)

        booking_id, session_id = await book_and_check_out(gateway.admin, world)
        opened = await state_becomes(gateway.admin, booking_id, "payment_pending")
        link = urlsplit(opened["intent"]["scheduling_url"])
        assert link.path.endswith("/consultation")
        assert parse_qs(link.query)["utm_content"] == [booking_id]
        [session] = providers.stripe.checkout_sessions.values()
        assert session["client_reference_id"] == booking_id

        await schedule(providers, world, booking_id)
        await providers.stripe.complete_checkout_session(session_id)
        confirmed = await state_becomes(gateway.admin, booking_id, "confirmed")
        applied = await _after_the_state_changes(engine, providers, world)

    assert confirmed["checkout_session_id"] == session_id
    assert confirmed["amount"] == 5000
    assert confirmed["paid_at"] is not None
    assert confirmed["history"][0]["to"] == "initiated"
    assert confirmed["history"][-1]["to"] == "confirmed"
    assert not [kind for kind in applied if kind.startswith("hookgate.")]


async def _after_the_state_changes(
    engine: AsyncEngine, providers: ProviderEmulators, world: BookingWorld
) -> list[str]:
    """The types the embedded consumers took, once they read past every published
    `state_changed` (a later delivery is applied after them: the spool is in order)."""
    async with asyncio.timeout(30):
        while await _count(
            engine, "SELECT count(*) FROM booking_history WHERE published_at IS NULL"
        ):
            await asyncio.sleep(0.05)
        meeting = await providers.calendly.add_event(world.host, utc_now() + timedelta(days=2))
        await providers.calendly.add_invitee(meeting, "Later Caller", "later@example.com")
        while await _count(engine, "SELECT count(*) FROM bookings") < 2:
            await asyncio.sleep(0.05)
    async with engine.connect() as connection:
        return list((await connection.execute(text("SELECT type FROM processed_events"))).scalars())


async def _count(engine: AsyncEngine, sql: str) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(text(sql))).scalar_one())


async def test_a_checkout_without_an_amount_charges_the_price_and_both_are_audited(
    tmp_path: Path, sqlite_url: str, providers: ProviderEmulators
) -> None:
    async with serving(tmp_path, providers, sqlite_url) as gateway:
        world = await booking_world(providers, gateway)
        created = (await gateway.admin.post("/admin/bookings", json=intent(world))).json()
        unpriced = {key: value for key, value in CHECKOUT.items() if key.endswith("_url")}
        checkout = await gateway.admin.post(
            f"/admin/bookings/{created['id']}/checkout",
            json={"stripe_source_id": world.stripe_source, **unpriced},
        )
        audit = (await gateway.admin.get("/admin/audit")).json()["entries"]
    assert checkout.status_code == 200, checkout.text
    recorded = [(e["action"], e["source_id"], e["outcome"]) for e in audit[:2]]
    assert recorded == [
        ("booking.checkout", world.stripe_source, "ok"),
        ("booking.create", world.calendly_source, "ok"),
    ]
    [session] = providers.stripe.checkout_sessions.values()
    assert (session["amount_total"], session["currency"]) == (PRICE["amount"], PRICE["currency"])


async def test_an_invitee_whose_webhook_was_lost_joins_through_the_import(
    tmp_path: Path, sqlite_url: str, providers: ProviderEmulators
) -> None:
    async with serving(tmp_path, providers, sqlite_url) as gateway:
        world = await booking_world(providers, gateway)
        created = (await gateway.admin.post("/admin/bookings", json=intent(world))).json()
        providers.calendly.deliver = None  # the invitee.created never arrives
        await schedule(providers, world, created["id"])
        view = await sync(gateway, world.calendly_source)
        scheduled = await state_becomes(gateway.admin, created["id"], "scheduled")
    assert view["status"] == "completed", view
    assert scheduled["invitee_uri"] is not None


async def test_refusals_name_what_is_wrong(
    tmp_path: Path, sqlite_url: str, providers: ProviderEmulators
) -> None:
    async with serving(tmp_path, providers, sqlite_url) as gateway:
        world = await booking_world(providers, gateway)
        asked = intent(world)
        other_tenant = await gateway.admin.post("/admin/bookings", json={**asked, "tenant": "b"})
        unknown_type = await gateway.admin.post(
            "/admin/bookings", json={**asked, "event_type_uri": "https://x/event_types/NOPE"}
        )
        missing = await gateway.admin.get("/admin/bookings/bkg_nope")
        created = (await gateway.admin.post("/admin/bookings", json=asked)).json()
        wrong_source = await gateway.admin.post(
            f"/admin/bookings/{created['id']}/checkout",
            json={"stripe_source_id": world.calendly_source, **CHECKOUT},
        )
    assert (other_tenant.status_code, other_tenant.json()["error"]) == (422, "tenant_mismatch")
    assert (unknown_type.status_code, unknown_type.json()["error"]) == (422, "unknown_event_type")
    assert (missing.status_code, missing.json()["error"]) == (404, "unknown_booking")
    assert (wrong_source.status_code, wrong_source.json()["error"]) == (404, "unknown_source")
