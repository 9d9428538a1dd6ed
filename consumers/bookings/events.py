"""What each Calendly and Stripe event shows about bookings, as facts and links (pure).

Calendly: `invitee.created` schedules its invitee (joined to the booking its link's
`utm_content` names, or to the invitee it replaces, `old_invitee`); `invitee.canceled`
cancels it, unless it is a reschedule's (`rescheduled: true`), which only says which
invitee replaces it (Calendly sends no `invitee.rescheduled`).

Stripe: a Checkout Session names its booking (`client_reference_id`, or `metadata`),
a PaymentIntent or Charge through the `payment_intent_data.metadata` copied onto it,
and each is linked to its PaymentIntent so that whichever arrives first joins up.
Paid: `checkout.session.completed` with `payment_status=paid` (or
`no_payment_required`),
`checkout.session.async_payment_succeeded`, `payment_intent.succeeded`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from consumers.bookings.facts import (
    BOOKING,
    CANCELED,
    CHECKOUT,
    EXPIRED,
    INVITEE,
    PAID,
    PAYMENT,
    PAYMENT_FAILED,
    REFUND,
    REFUNDED,
    RESCHEDULED_TO,
    SCHEDULED,
    Fact,
    Link,
    Observation,
    subject,
)
from consumers.versions import parse_time
from schemas import CloudEvent
from schemas.calendly import StoredInvitee, parse_stored_invitee
from schemas.payments import StripeObject, parse_stripe_event

BOOKING_ID_PREFIX = "bkg_"
CALENDLY_TYPES = ("calendly.invitee.created", "calendly.invitee.canceled")
STRIPE_TYPES = (
    "stripe.checkout_session.completed",
    "stripe.checkout_session.async_payment_succeeded",
    "stripe.checkout_session.async_payment_failed",
    "stripe.checkout_session.expired",
    "stripe.payment_intent.succeeded",
    "stripe.payment_intent.payment_failed",
    "stripe.charge.refunded",
    "stripe.refund.created",
    "stripe.refund.updated",
)
SETTLED = ("paid", "no_payment_required")
"""A completed Checkout Session's `payment_status`es that mean nothing is left to pay."""
_SESSION_FACTS = {
    "checkout.session.async_payment_succeeded": PAID,
    "checkout.session.async_payment_failed": PAYMENT_FAILED,
    "checkout.session.expired": EXPIRED,
}


def observe(event: CloudEvent) -> Observation:
    """The facts and links `event` shows (`MalformedPayload` if its data is unreadable)."""
    observed = _calendly(event) if event.type in CALENDLY_TYPES else _stripe(event)
    return observed.without_nul()


def _calendly(event: CloudEvent) -> Observation:
    parsed = parse_stored_invitee(event.data)
    invitee = parsed.payload
    if not _may_be_booked(invitee):
        return Observation()
    own = subject(INVITEE, invitee.uri)
    links = _invitee_links(invitee)
    facts = [_scheduled(event, invitee)]
    if parsed.event == "invitee.canceled":
        cancellation = invitee.cancellation
        moment = parse_time(cancellation.created_at if cancellation else None)
        moment = moment or _utc(invitee.updated_at)
        if invitee.rescheduled and invitee.new_invitee:
            facts.append(
                Fact(own, RESCHEDULED_TO, {"invitee_uri": invitee.new_invitee}, moment, event.id)
            )
            links.append(Link(subject(INVITEE, invitee.new_invitee), own))
        else:
            reason = cancellation.reason if cancellation else None
            facts.append(Fact(own, CANCELED, {"reason": reason}, moment, event.id))
    return Observation(tuple(facts), tuple(links))


def _may_be_booked(invitee: StoredInvitee) -> bool:
    """Whether the invitee can belong to a booking: it came through a booking's link
    (its `tracking`, the invitee's own, is in every event of it) or takes part in a
    reschedule (`old_invitee` stays on the new invitee, `new_invitee` is on the old
    one). Any other invitee never joins one, so its events cost the store nothing."""
    return _booking_of(invitee) is not None or bool(invitee.old_invitee or invitee.new_invitee)


def _booking_of(invitee: StoredInvitee) -> str | None:
    booking_id = invitee.tracking.utm_content if invitee.tracking else None
    return booking_id if booking_id and booking_id.startswith(BOOKING_ID_PREFIX) else None


def _scheduled(event: CloudEvent, invitee: StoredInvitee) -> Fact:
    """Both invitee events show the invitee was scheduled, with the same values."""
    scheduled = invitee.scheduled_event
    name = invitee.name or " ".join(p for p in (invitee.first_name, invitee.last_name) if p)
    value = {
        "event_uri": invitee.event,
        "email": invitee.email,
        "name": name or None,
        "start_time": _iso(scheduled.start_time) if scheduled else None,
        "end_time": _iso(scheduled.end_time) if scheduled else None,
    }
    return Fact(subject(INVITEE, invitee.uri), SCHEDULED, value, _utc(invitee.created_at), event.id)


def _invitee_links(invitee: StoredInvitee) -> list[Link]:
    own = subject(INVITEE, invitee.uri)
    links = []
    booking_id = _booking_of(invitee)
    if booking_id is not None:
        links.append(Link(own, subject(BOOKING, booking_id)))
    if invitee.old_invitee:
        links.append(Link(own, subject(INVITEE, invitee.old_invitee)))
    return links


def _stripe(event: CloudEvent) -> Observation:
    parsed = parse_stripe_event(event.data)
    obj = parsed.data.object
    moment = datetime.fromtimestamp(parsed.created, UTC)
    kind = parsed.type
    if kind.startswith("checkout.session."):
        own = subject(CHECKOUT, obj.id)
        fact = _SESSION_FACTS.get(kind)
        if kind == "checkout.session.completed" and obj.payment_status in SETTLED:
            fact = PAID
        facts = [] if fact is None else [Fact(own, fact, _money(obj), moment, event.id)]
    elif kind.startswith("payment_intent."):
        own = subject(PAYMENT, obj.id)
        fact = PAID if kind == "payment_intent.succeeded" else PAYMENT_FAILED
        facts = [Fact(own, fact, _money(obj), moment, event.id)]
    elif kind == "charge.refunded":
        own = subject(PAYMENT, obj.payment_intent or obj.id)
        value = {"amount_refunded": obj.amount_refunded, "full": bool(obj.refunded)}
        facts = [Fact(own, REFUNDED, value, moment, event.id)]
    else:  # refund.created / refund.updated
        own = subject(REFUND, obj.id)
        succeeded = obj.status == "succeeded"
        value = {"amount_refunded": obj.amount, "full": False}
        facts = [Fact(own, REFUNDED, value, moment, event.id)] if succeeded else []
    return Observation(tuple(facts), tuple(_stripe_links(own, obj)))


def _stripe_links(own: str, obj: StripeObject) -> list[Link]:
    links = []
    if obj.booking_id:
        links.append(Link(own, subject(BOOKING, obj.booking_id)))
    payment = subject(PAYMENT, obj.payment_intent) if obj.payment_intent else None
    if payment is not None and payment != own:
        if own.startswith(CHECKOUT):
            links.append(Link(payment, own))
        else:
            links.append(Link(own, payment))
    return links


def _money(obj: StripeObject) -> dict[str, object]:
    session = obj.object == "checkout.session"
    return {
        "checkout_session_id": obj.id if session else None,
        "payment_intent_id": obj.payment_intent if session else obj.id,
        "amount": obj.amount_total if session else (obj.amount_received or obj.amount),
        "currency": obj.currency,
    }


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _iso(moment: datetime) -> str:
    return _utc(moment).isoformat()
