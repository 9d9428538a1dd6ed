"""Calendly (API v2) webhook payloads, and the normalizer that turns a delivery into an event.

Which model fits which event (`parse_event(event.data)` returns):

    calendly.invitee.created    InviteeEvent, `payload` an `Invitee`
                                (`old_invitee` set on a reschedule)
    calendly.invitee.canceled   InviteeEvent, `payload` an `Invitee` with `cancellation`
                                (`rescheduled` and `new_invitee` set on a reschedule)
    anything else               OtherEvent, `payload` a plain dict (routing_form_submission.created,
                                invitee_no_show.*, event_type.* ...)

The event data is the delivery body exactly as Calendly sent it.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
)

from schemas.envelope import (
    CloudEvent,
    Delivery,
    MalformedPayload,
    Normalized,
    ProviderTime,
    digest_id,
    format_time,
    malformed_from,
    source_uri,
    validate_lean,
)

PROVIDER = "calendly"
INVITEE_EVENTS = ("invitee.created", "invitee.canceled")


class CalendlyModel(BaseModel):
    """Calendly objects: immutable, and open to the fields Calendly adds over time.

    Fields not modelled here are accepted and skipped rather than kept (`extra="ignore"`):
    the event carries the body exactly as Calendly sent it, and keeping the extras made
    every delivery's validation about half as fast again.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")


class Cancellation(CalendlyModel):
    canceled_by: str | None = None
    canceler_type: str | None = None
    """`host` or `invitee`."""
    reason: str | None = None
    """May be empty."""
    created_at: ProviderTime | None = None


class NoShow(CalendlyModel):
    uri: str
    created_at: ProviderTime | None = None


class Tracking(CalendlyModel):
    """The UTM parameters of the scheduling link the invitee used."""

    utm_content: str | None = None
    utm_source: str | None = None
    utm_campaign: str | None = None


class StoredScheduledEvent(CalendlyModel):
    """What the store reads of a `ScheduledEvent` (and its required `uri`)."""

    uri: str
    start_time: ProviderTime
    end_time: ProviderTime


class ScheduledEvent(StoredScheduledEvent):
    name: str | None = None
    status: str | None = None
    event_type: str | None = None
    location: dict[str, Any] | None = None
    created_at: ProviderTime | None = None
    updated_at: ProviderTime | None = None
    cancellation: Cancellation | None = None


class StoredInvitee(CalendlyModel):
    """What the store reads of an `Invitee`, with every field `Invitee` requires."""

    uri: str
    email: str
    name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    status: str
    """`active` or `canceled`."""
    event: str
    """The scheduled event's URI."""
    created_at: ProviderTime
    updated_at: ProviderTime
    rescheduled: bool = False
    old_invitee: str | None = None
    new_invitee: str | None = None
    cancellation: Cancellation | None = None
    """Read whole: the bookings handler writes all of it."""
    scheduled_event: StoredScheduledEvent | None = None
    """Absent from older deliveries."""
    tracking: Tracking | None = None
    """`utm_content` carries a hookgate booking id (`bkg_…`) when its link was used."""


class Invitee(StoredInvitee):
    timezone: str | None = None
    cancel_url: str | None = None
    reschedule_url: str | None = None
    no_show: NoShow | None = None
    scheduled_event: ScheduledEvent | None = None


class StoredInviteeEvent(CalendlyModel):
    """What the store reads of an `InviteeEvent`."""

    event: Literal["invitee.created", "invitee.canceled"]
    created_at: ProviderTime
    payload: StoredInvitee


class InviteeEvent(StoredInviteeEvent):
    created_by: str | None = None
    payload: Invitee


class OtherEvent(CalendlyModel):
    event: str = Field(min_length=1)
    created_at: ProviderTime
    created_by: str | None = None
    payload: dict[str, Any]


def _kind(value: Any) -> str:
    event = value.get("event") if isinstance(value, dict) else getattr(value, "event", None)
    return "InviteeEvent" if event in INVITEE_EVENTS else "OtherEvent"


WebhookEvent = Annotated[
    Annotated[InviteeEvent, Tag("InviteeEvent")] | Annotated[OtherEvent, Tag("OtherEvent")],
    Discriminator(_kind),
]
_EVENTS: TypeAdapter[InviteeEvent | OtherEvent] = TypeAdapter(WebhookEvent)
_TAGS = frozenset({"InviteeEvent", "OtherEvent"})
"""Union tags: they appear in error locations, and are named so no wire field can clash."""


_INVITEES: TypeAdapter[InviteeEvent] = TypeAdapter(InviteeEvent)


def parse_event(data: bytes) -> InviteeEvent | OtherEvent:
    """Parse a Calendly delivery body (the event data), or raise `MalformedPayload`.

    Most deliveries are invitee events, and the union's callable discriminator makes
    pydantic build Python objects first; so a body that mentions an invitee event is
    tried as `InviteeEvent` straight from JSON. Success means its top-level `event` is
    one of those, which is what the union would have chosen too; on any failure the
    union decides, so errors are exactly the union's.
    """
    if b'"invitee.' in data:
        with contextlib.suppress(ValidationError):
            return _INVITEES.validate_json(data)
    try:
        return _EVENTS.validate_json(data)
    except ValidationError as exc:
        raise malformed_from(exc, "Calendly delivery", _TAGS) from None


def normalize(delivery: Delivery) -> Normalized:
    """One event per delivery; its id is a digest, as Calendly sends no delivery id."""
    envelope = parse_event(delivery.body)
    time = _utc(envelope.created_at)
    if isinstance(envelope, InviteeEvent):
        uri = envelope.payload.uri
        resource = uri
    else:
        uri = _text(envelope.payload.get("uri"))
        # A no-show names its invitee; keep it on the invitee's partition.
        resource = _text(envelope.payload.get("invitee")) or uri or envelope.created_by or ""
    event_id = digest_id(delivery.source_id, envelope.event, uri, format_time(time))
    event = CloudEvent(
        id=event_id,
        source=source_uri(delivery.provider, delivery.source_id),
        type=f"{PROVIDER}.{envelope.event}",
        time=time,
        subject=uri,
        tenant=delivery.tenant,
        provider=delivery.provider,
        partitionkey=f"{delivery.tenant}:{resource}",
        data=delivery.body,
    )
    return Normalized(delivery_id=event_id, events=(event,))


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _utc(moment: datetime) -> datetime:
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise MalformedPayload("The Calendly delivery has a time out of range.") from None


# What the store reads ---------------------------------------------------------------
#
# The consumers validate an event's data again when they apply it. The gateway has
# already checked the whole documented payload at the edge (`parse_event`), so the store
# parses only what it writes: the `Stored*` models above, which the full ones extend,
# keep every required field (same types and constraints) and the optional fields the
# bookings handler reads, and skip the rest, at about half the cost. A body they reject
# fails the full models too (their constraints are a subset); the handler then raises
# the full models' error, so a malformed event reads the same everywhere.


_STORED_INVITEES: TypeAdapter[StoredInviteeEvent] = TypeAdapter(StoredInviteeEvent)


def parse_stored_invitee(data: bytes) -> StoredInviteeEvent:
    """An invitee event's data as the store reads it, or the full `InviteeEvent`'s error."""
    return validate_lean(_STORED_INVITEES, _INVITEES, data, "Calendly delivery")
