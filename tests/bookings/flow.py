"""A booking's events as the gateway makes them: Calendly samples through the normalizer,
Stripe events in the shape Stripe documents (`{id, type, created, data: {object}}`)."""

from __future__ import annotations

import itertools
from typing import Any

import orjson

from schemas import CloudEvent, Delivery
from schemas import stripe as stripe_schema
from tests.store import events
from tests.store.events import at

TENANT = "acme"
BOOKING = "bkg_flow1"
SESSION = "cs_test_flow1"
INTENT = "pi_flow1"
EVENT = "https://api.calendly.com/scheduled_events/E1"
INVITEE = f"{EVENT}/invitees/I1"
NEW_EVENT = "https://api.calendly.com/scheduled_events/E2"
NEW_INVITEE = f"{NEW_EVENT}/invitees/I2"
AMOUNT = 5000
_ids = itertools.count(1)


def scheduled(
    tenant: str = TENANT, booking: str = BOOKING, *, minutes: float = 1, **kwargs: Any
) -> CloudEvent:
    kwargs.setdefault("invitee_uri", INVITEE)
    kwargs.setdefault("event_uri", EVENT)
    kwargs.setdefault("start_time", at(60 * 24))
    return events.calendly(tenant, "invitee.created", at(minutes), utm_content=booking, **kwargs)


def canceled(
    tenant: str = TENANT, booking: str = BOOKING, *, minutes: float = 5, **kwargs: Any
) -> CloudEvent:
    kwargs.setdefault("invitee_uri", INVITEE)
    kwargs.setdefault("event_uri", EVENT)
    kwargs.setdefault("start_time", at(60 * 24))
    return events.calendly(tenant, "invitee.canceled", at(minutes), utm_content=booking, **kwargs)


def rescheduled(tenant: str = TENANT, booking: str = BOOKING) -> list[CloudEvent]:
    """Calendly's two deliveries of a reschedule: the old invitee canceled with
    `rescheduled: true`, the new one created with `old_invitee` (and no utm)."""
    return [
        canceled(tenant, booking, minutes=6, rescheduled_to=NEW_INVITEE),
        events.calendly(
            tenant,
            "invitee.created",
            at(6),
            invitee_uri=NEW_INVITEE,
            event_uri=NEW_EVENT,
            start_time=at(60 * 48),
            rescheduled_from=INVITEE,
        ),
    ]


def stripe(
    event_type: str,
    obj: dict[str, Any],
    *,
    tenant: str = TENANT,
    minutes: float = 3,
    event_id: str | None = None,
) -> CloudEvent:
    """A Stripe event through the Stripe normalizer, as the gateway makes it."""
    event_id = event_id or f"evt_{next(_ids):06d}"
    body = {
        "id": event_id,
        "object": "event",
        "type": event_type,
        "created": int(at(minutes).timestamp()),
        "livemode": False,
        "data": {"object": obj},
    }
    delivery = Delivery(
        provider="stripe",
        source_id=f"src-stripe-{tenant}",
        tenant=tenant,
        headers={},
        body=orjson.dumps(body),
        received_at=at(minutes),
    )
    return stripe_schema.normalize(delivery).events[0]


def session(
    status: str = "paid", booking: str = BOOKING, session_id: str = SESSION, **extra: Any
) -> dict[str, Any]:
    return {
        "id": session_id,
        "object": "checkout.session",
        "mode": "payment",
        "client_reference_id": booking,
        "metadata": {"booking_id": booking},
        "payment_intent": INTENT,
        "payment_status": status,
        "amount_total": AMOUNT,
        "currency": "usd",
        **extra,
    }


def payment_intent(booking: str = BOOKING) -> dict[str, Any]:
    return {
        "id": INTENT,
        "object": "payment_intent",
        "metadata": {"booking_id": booking},
        "amount": AMOUNT,
        "amount_received": AMOUNT,
        "currency": "usd",
        "status": "succeeded",
    }


def charge(refunded: int, booking: str = BOOKING) -> dict[str, Any]:
    return {
        "id": "ch_flow1",
        "object": "charge",
        "payment_intent": INTENT,
        "metadata": {"booking_id": booking},
        "amount": AMOUNT,
        "amount_refunded": refunded,
        "refunded": refunded >= AMOUNT,
        "currency": "usd",
    }


def paid(minutes: float = 3, **kwargs: Any) -> CloudEvent:
    return stripe("checkout.session.completed", session(), minutes=minutes, **kwargs)
