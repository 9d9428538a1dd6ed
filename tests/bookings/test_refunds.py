"""Refund on cancel: one refund at Stripe however often the cancel comes or the
refunder runs, and `refunded` once Stripe's refund events arrive."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from consumers.apply import Applier
from consumers.bookings.desk import BookingDesk
from consumers.bookings.refunds import CancelRefunds, Refunder, StripeFor
from schemas.booking_store import booking_payments
from tests.bookings import flow
from tests.bookings.booked import booking
from tests.bookings.flow import BOOKING, TENANT
from tests.bookings.stripe_account import StripeAccount, stripe_account

SOURCE = "src_stripe"


async def _paid_and_canceled(
    engine: AsyncEngine, account: StripeAccount, applier: Applier, desk: BookingDesk
) -> str:
    """A booking paid through a Checkout Session, then canceled (delivered twice);
    returns its PaymentIntent."""
    await desk.open(TENANT, BOOKING, {"calendly_source_id": "src_cal"})
    session = await account.checkout(BOOKING)
    await desk.checkout_opened(TENANT, BOOKING, session.id, {"stripe_source_id": SOURCE})
    await account.emulator.complete_checkout_session(session.id)
    await applier.apply([flow.scheduled(), *account.new_events(TENANT)])
    cancel = flow.canceled()
    await applier.apply([cancel])
    await applier.apply([cancel])
    row = await booking(engine, TENANT, BOOKING)
    assert row["state"] == "canceled"
    return str(row["payment_intent_id"])


def _stripe_for(account: StripeAccount, options: Mapping[str, Any]) -> StripeFor:
    async def stripe_for(source_id: str) -> tuple[Refunder, Mapping[str, Any]] | None:
        return (account.client, options) if source_id == SOURCE else None

    return stripe_for


async def test_a_canceled_paid_booking_is_refunded_once(
    engine: AsyncEngine, applier: Applier, desk: BookingDesk
) -> None:
    async with stripe_account() as account:
        payment_intent = await _paid_and_canceled(engine, account, applier, desk)
        refunder = CancelRefunds(engine, _stripe_for(account, {"refund_on_cancel": True}))
        assert await refunder.refund_due() == 1
        assert await refunder.refund_due() == 0
        async with engine.begin() as connection:  # as if killed before it was recorded
            await connection.execute(update(booking_payments).values(refund_id=None))
        assert await refunder.refund_due() == 1
        assert len(account.emulator.refunds_of(payment_intent)) == 1
        await applier.apply(account.new_events(TENANT))
    refunded = await booking(engine, TENANT, BOOKING)
    assert (refunded["state"], refunded["amount_refunded"]) == ("refunded", 5000)


async def test_without_the_option_nothing_is_refunded(
    engine: AsyncEngine, applier: Applier, desk: BookingDesk
) -> None:
    async with stripe_account() as account:
        payment_intent = await _paid_and_canceled(engine, account, applier, desk)
        refunder = CancelRefunds(engine, _stripe_for(account, {}))
        assert await refunder.refund_due() == 0
        assert account.emulator.refunds_of(payment_intent) == []
    assert (await booking(engine, TENANT, BOOKING))["state"] == "canceled"
