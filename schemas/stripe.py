"""Stripe webhook payloads (Event objects), and the normalizer that turns a delivery into an event.

Every delivery is one Event: `{id: "evt_…", object: "event", type, created, livemode,
data: {object, previous_attributes?}, api_version, pending_webhooks, request}`
(providers.md §5). Only the envelope and the object's id and booking references are
modelled: `data.object` is a Checkout Session, PaymentIntent, Charge, Refund … whose
fields the consumers read themselves (`parse_event` gives them the same envelope).

The CloudEvent:

    id            the Event's `evt_…` id, so Stripe's retries of it map to one event
    type          `stripe.{object}.{action}`: the Stripe type's last part is the action,
                  the dotted object name before it is joined by `_`
                  (`checkout.session.completed` → `stripe.checkout_session.completed`)
    subject       `data.object.id` (the Event's id for an object without one)
    partitionkey  `{tenant}:{booking}`: the object's `client_reference_id`, else its
                  `metadata.booking_id`, else its id, so one booking's events keep order
    objectkey     extension `{data.object.id}:{Stripe type}`: Stripe sometimes sends one
                  change as two Event objects with different ids, so consumers that must
                  act once per change dedupe on this (Stripe's advice) besides `id`. It
                  names the object and kind of change, not the change: two partial refunds
                  of a charge are two `charge.refunded` with one key, so dedupe on it only
                  what happens once per object (a session completing, a refund created)
    data          the Event JSON exactly as Stripe sent it
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, TypeAdapter, ValidationError

from schemas.envelope import (
    EARLIEST_PROVIDER_TIME,
    LATEST_PROVIDER_TIME,
    CloudEvent,
    Delivery,
    Normalized,
    malformed_from,
    source_uri,
)

PROVIDER = "stripe"
BOOKING_METADATA_KEY = "booking_id"
"""The metadata key hookgate puts the booking id under (on the session and its payment)."""

_ID = r"^[A-Za-z0-9_]+$"
_TYPE = r"^[a-z0-9_]+(\.[a-z0-9_]+)+$"


class StripeModel(BaseModel):
    """Stripe objects: immutable, open to the fields Stripe adds (skipped, not kept)."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class EventObject(StripeModel):
    """`data.object`: what hookgate reads of any Stripe object.

    Lenient where Stripe varies: a few objects have no `id` (a `balance`), and a
    verified event refused with 400 would be retried by Stripe for days."""

    id: str | None = Field(default=None, min_length=1, max_length=255, pattern=_ID)
    object: str = Field(min_length=1)
    client_reference_id: str | None = None
    """Checkout Sessions: the booking id hookgate created the session for."""
    metadata: dict[str, Any] | None = None


class EventData(StripeModel):
    object: EventObject
    previous_attributes: dict[str, Any] | None = None


class EventRequest(StripeModel):
    id: str | None = None
    idempotency_key: str | None = None


class Event(StripeModel):
    id: str = Field(min_length=5, max_length=255, pattern=r"^evt_[A-Za-z0-9_]+$")
    object: Literal["event"]
    type: str = Field(max_length=255, pattern=_TYPE)
    created: StrictInt = Field(
        ge=int(EARLIEST_PROVIDER_TIME.timestamp()), lt=int(LATEST_PROVIDER_TIME.timestamp())
    )
    """Unix seconds."""
    data: EventData
    livemode: bool
    api_version: str | None = None
    pending_webhooks: int | None = None
    request: EventRequest | None = None
    account: str | None = None
    """A connected account's id (Connect)."""

    @property
    def object_id(self) -> str:
        """The object's id; the Event's own for the few objects without one."""
        return self.data.object.id or self.id

    @property
    def object_key(self) -> str:
        """What identifies the change whichever Event object reports it."""
        return f"{self.object_id}:{self.type}"

    @property
    def booking_key(self) -> str:
        """The booking the object belongs to, where hookgate named it; else the object."""
        obj = self.data.object
        booking = (obj.metadata or {}).get(BOOKING_METADATA_KEY)
        named = booking if isinstance(booking, str) and booking else None
        return obj.client_reference_id or named or self.object_id


_EVENTS: TypeAdapter[Event] = TypeAdapter(Event)


def parse_event(data: bytes) -> Event:
    """Parse a Stripe delivery body (the event data), or raise `MalformedPayload`."""
    try:
        return _EVENTS.validate_json(data)
    except ValidationError as exc:
        raise malformed_from(exc, "Stripe delivery") from None


def event_type(stripe_type: str) -> str:
    """`checkout.session.completed` → `stripe.checkout_session.completed`."""
    resource, _, action = stripe_type.rpartition(".")
    return f"{PROVIDER}.{resource.replace('.', '_')}.{action}"


def normalize(delivery: Delivery) -> Normalized:
    """One event per delivery, its id Stripe's Event id."""
    envelope = parse_event(delivery.body)
    event = CloudEvent(
        id=envelope.id,
        source=source_uri(delivery.provider, delivery.source_id),
        type=event_type(envelope.type),
        time=datetime.fromtimestamp(envelope.created, UTC),
        subject=envelope.object_id,
        tenant=delivery.tenant,
        provider=delivery.provider,
        partitionkey=f"{delivery.tenant}:{envelope.booking_key}",
        data=delivery.body,
        objectkey=envelope.object_key,
    )
    return Normalized(delivery_id=envelope.id, events=(event,))
