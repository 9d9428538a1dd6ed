"""What bookings read of Stripe's events: the objects that say a booking was paid,
failed, expired or refunded, with the fields that name the booking.

`schemas.stripe` models the Event envelope the gateway checks; the consumers read the
object's own fields (`data.object` is a Checkout Session, PaymentIntent, Charge or
Refund), and these are the ones bookings read. Stripe adds fields over time: ignored.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError

from schemas.envelope import malformed_from
from schemas.stripe import BOOKING_METADATA_KEY


class StripeModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class StripeObject(StripeModel):
    """A Checkout Session, PaymentIntent, Charge or Refund, as far as bookings read it."""

    id: str
    object: str
    metadata: dict[str, str] | None = None
    client_reference_id: str | None = None
    payment_intent: str | None = None
    payment_status: str | None = None
    """Checkout Session: `paid`, `unpaid` or `no_payment_required`."""
    status: str | None = None
    amount: int | None = None
    amount_total: int | None = None
    amount_received: int | None = None
    amount_refunded: int | None = None
    refunded: bool | None = None
    currency: str | None = None

    @property
    def booking_id(self) -> str | None:
        return self.client_reference_id or (self.metadata or {}).get(BOOKING_METADATA_KEY) or None


class StripeEventData(StripeModel):
    object: StripeObject


class StripeEvent(StripeModel):
    id: str
    type: str
    created: int
    data: StripeEventData


def parse_stripe_event(data: bytes) -> StripeEvent:
    """A Stripe event as bookings read it, or `MalformedPayload`."""
    try:
        return StripeEvent.model_validate_json(data)
    except ValidationError as exc:
        raise malformed_from(exc, "Stripe event") from None
