"""Each state's transitions, named: the state follows the facts, not their order."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from consumers.apply import Applier
from consumers.bookings.desk import BookingDesk
from tests.bookings import flow
from tests.bookings.booked import booking, facts, state, transitions
from tests.bookings.flow import BOOKING, TENANT
from tests.store import events
from tests.store.events import at

INTENT = {"calendly_source_id": "src_cal", "event_type_uri": "et", "name": "Ada", "email": "a@x"}


async def test_intent_is_initiated(engine: AsyncEngine, desk: BookingDesk) -> None:
    assert await desk.open(TENANT, BOOKING, INTENT) == "initiated"
    assert await transitions(engine, TENANT, BOOKING) == [(None, "initiated")]


async def test_paid_then_scheduled_equals_scheduled_then_paid(
    engine: AsyncEngine, applier: Applier, desk: BookingDesk
) -> None:
    await desk.open("a", BOOKING, INTENT)
    await applier.apply([flow.paid(tenant="a")])
    assert await state(engine, "a", BOOKING) == "initiated"
    await applier.apply([flow.scheduled("a")])
    await desk.open("b", BOOKING, INTENT)
    await applier.apply([flow.scheduled("b")])
    assert await state(engine, "b", BOOKING) == "scheduled"
    await applier.apply([flow.paid(tenant="b")])
    assert await state(engine, "a", BOOKING) == await state(engine, "b", BOOKING) == "confirmed"
    paid = await booking(engine, "a", BOOKING)
    assert (paid["payment_intent_id"], paid["amount"], paid["currency"]) == (
        flow.INTENT,
        flow.AMOUNT,
        "usd",
    )
    assert paid["invitee_uri"] == flow.INVITEE


async def test_checkout_then_expired_unpaid_is_abandoned(
    engine: AsyncEngine, applier: Applier, desk: BookingDesk
) -> None:
    await desk.open(TENANT, BOOKING, INTENT)
    await applier.apply([flow.scheduled()])
    assert await desk.checkout_opened(TENANT, BOOKING, flow.SESSION, {}) == "payment_pending"
    await applier.apply([flow.stripe("checkout.session.expired", flow.session("unpaid"))])
    assert await transitions(engine, TENANT, BOOKING) == [
        (None, "initiated"),
        ("initiated", "scheduled"),
        ("scheduled", "payment_pending"),
        ("payment_pending", "abandoned"),
    ]


async def test_failed_then_succeeded_is_confirmed(
    engine: AsyncEngine, applier: Applier, desk: BookingDesk
) -> None:
    await desk.open(TENANT, BOOKING, INTENT)
    await applier.apply([flow.scheduled()])
    failed = flow.stripe("payment_intent.payment_failed", flow.payment_intent(), minutes=2)
    await applier.apply([failed])
    assert await state(engine, TENANT, BOOKING) == "payment_failed"
    await applier.apply([flow.stripe("payment_intent.succeeded", flow.payment_intent())])
    assert await state(engine, TENANT, BOOKING) == "confirmed"


async def test_reschedule_keeps_confirmed(
    engine: AsyncEngine, applier: Applier, desk: BookingDesk
) -> None:
    await desk.open(TENANT, BOOKING, INTENT)
    await applier.apply([flow.scheduled(), flow.paid()])
    await applier.apply(flow.rescheduled())
    moved = await booking(engine, TENANT, BOOKING)
    assert (moved["state"], moved["invitee_uri"]) == ("confirmed", flow.NEW_INVITEE)
    assert moved["paid_at"] is not None
    assert await transitions(engine, TENANT, BOOKING) == [
        (None, "initiated"),
        ("initiated", "scheduled"),
        ("scheduled", "confirmed"),
    ]


async def test_cancel_of_a_paid_booking_is_canceled_then_refunded(
    engine: AsyncEngine, applier: Applier
) -> None:
    await applier.apply([flow.scheduled(), flow.paid()])
    await applier.apply([flow.canceled()])
    assert await state(engine, TENANT, BOOKING) == "canceled"
    await applier.apply([flow.stripe("charge.refunded", flow.charge(flow.AMOUNT), minutes=8)])
    refunded = await booking(engine, TENANT, BOOKING)
    assert (refunded["state"], refunded["amount_refunded"]) == ("refunded", flow.AMOUNT)
    assert refunded["refunded_at"] is not None


async def test_partial_refund_is_recorded_as_such(engine: AsyncEngine, applier: Applier) -> None:
    await applier.apply([flow.scheduled(), flow.paid()])
    await applier.apply([flow.stripe("charge.refunded", flow.charge(1000), minutes=8)])
    partial = await booking(engine, TENANT, BOOKING)
    assert (partial["state"], partial["amount_refunded"]) == ("confirmed", 1000)


async def test_payment_made_elsewhere_is_kept_and_joined(
    engine: AsyncEngine, applier: Applier
) -> None:
    """A Checkout Session no booking asked for names none; its PaymentIntent is joined
    when the booking's own PaymentIntent event names the booking."""
    stray = flow.session(booking="", session_id="cs_elsewhere")
    stray.update(client_reference_id=None, metadata={})
    await applier.apply([flow.stripe("checkout.session.completed", stray)])
    await applier.apply([flow.scheduled()])
    assert await state(engine, TENANT, BOOKING) == "scheduled"
    await applier.apply([flow.stripe("payment_intent.payment_failed", flow.payment_intent())])
    joined = await booking(engine, TENANT, BOOKING)
    assert (joined["state"], joined["checkout_session_id"]) == ("confirmed", "cs_elsewhere")


async def test_a_payment_before_its_booking_is_joined_when_it_appears(
    engine: AsyncEngine, applier: Applier, desk: BookingDesk
) -> None:
    await applier.apply([flow.paid()])
    kept = await booking(engine, TENANT, BOOKING)
    assert (kept["state"], kept["payment_intent_id"]) == ("initiated", flow.INTENT)
    await desk.open(TENANT, BOOKING, INTENT)
    await applier.apply([flow.scheduled()])
    assert await state(engine, TENANT, BOOKING) == "confirmed"


async def test_a_cancel_outranks_a_later_payment(engine: AsyncEngine, applier: Applier) -> None:
    await applier.apply([flow.scheduled(), flow.canceled()])
    assert await state(engine, TENANT, BOOKING) == "canceled"
    await applier.apply([flow.paid(minutes=9)])
    assert await state(engine, TENANT, BOOKING) == "canceled"


async def test_an_invitee_no_booking_asked_for_writes_no_facts(
    engine: AsyncEngine, applier: Applier
) -> None:
    plain = events.calendly(TENANT, "invitee.created", at(1), invitee_uri=flow.INVITEE)
    await applier.apply([plain])
    assert await facts(engine, TENANT) == []


async def test_a_nul_in_a_booked_invitees_name_is_dropped(
    engine: AsyncEngine, applier: Applier
) -> None:
    await applier.apply([flow.scheduled(name="Ada\x00 Lovelace")])
    scheduled = await booking(engine, TENANT, BOOKING)
    assert (scheduled["state"], scheduled["name"]) == ("scheduled", "Ada Lovelace")
