"""Refund on cancel: a paid booking canceled is refunded once, at Stripe.

With the Stripe source option `refund_on_cancel`, each booking that is `canceled`
with a payment and no refund asked for yet gets one refund of its PaymentIntent. The
`Idempotency-Key` is the booking's, so a retry after a crash or a timeout (or a
cancel delivered again) gets Stripe's first refund back rather than a second one;
`refund_id` is then recorded. The booking becomes `refunded` when Stripe's refund or
`charge.refunded` event arrives, as any other fact.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from consumers.stripe.client import Refund, StripeError
from schemas.booking_store import booking_payments
from schemas.stripe import BOOKING_METADATA_KEY

REFUND_ON_CANCEL = "refund_on_cancel"
log = logging.getLogger(__name__)


class Refunder(Protocol):
    async def create_refund(
        self,
        *,
        payment_intent: str,
        idempotency_key: str,
        amount: int | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> Refund: ...


StripeFor = Callable[[str], Awaitable[tuple[Refunder, Mapping[str, Any]] | None]]
"""A Stripe source's client and options, by source id; None: no such source."""


def refund_key(booking_id: str) -> str:
    return f"hookgate-refund-{booking_id}"


class CancelRefunds:
    def __init__(self, engine: AsyncEngine, stripe_for: StripeFor) -> None:
        self._engine = engine
        self._stripe_for = stripe_for

    async def refund_due(self) -> int:
        """Refund the canceled paid bookings whose source asks for it; returns how many.

        Every candidate is looked at each time (they are few: a canceled paid booking
        leaves the set once refunded), so those whose source does not refund never
        keep the others waiting."""
        async with self._engine.connect() as connection:
            due = (
                await connection.execute(
                    select(
                        booking_payments.c.tenant,
                        booking_payments.c.booking_id,
                        booking_payments.c.payment_intent_id,
                        booking_payments.c.stripe_source_id,
                    )
                    .where(
                        booking_payments.c.state == "canceled",
                        booking_payments.c.paid_at.is_not(None),
                        booking_payments.c.payment_intent_id.is_not(None),
                        booking_payments.c.stripe_source_id.is_not(None),
                        booking_payments.c.refund_id.is_(None),
                    )
                    .order_by(booking_payments.c.updated_at)
                )
            ).all()
        refunded = 0
        sources: dict[str, tuple[Refunder, Mapping[str, Any]] | None] = {}
        for tenant, booking_id, payment_intent, source_id in due:
            if source_id not in sources:
                sources[source_id] = await self._stripe_for(source_id)
            stripe = sources[source_id]
            if stripe is None or not stripe[1].get(REFUND_ON_CANCEL):
                continue
            client, _ = stripe
            try:
                refund = await client.create_refund(
                    payment_intent=payment_intent,
                    idempotency_key=refund_key(booking_id),
                    metadata={BOOKING_METADATA_KEY: booking_id},
                )
            except StripeError as exc:
                log.warning(
                    "refund of booking %s failed: %s (%s)", booking_id, exc.detail, exc.code
                )
                continue
            async with self._engine.begin() as connection:
                await connection.execute(
                    update(booking_payments)
                    .where(
                        booking_payments.c.tenant == tenant,
                        booking_payments.c.booking_id == booking_id,
                        booking_payments.c.refund_id.is_(None),
                    )
                    .values(refund_id=refund.id)
                )
            refunded += 1
        return refunded

    async def run_forever(self, interval_seconds: float = 5.0) -> None:
        while True:
            try:
                await self.refund_due()
            except Exception:
                log.exception("refunds on cancel failed; retrying")
            await asyncio.sleep(interval_seconds)
