"""GoHighLevel (LeadConnector) webhook payloads, and the normalizer.

Which model fits which event (`parse_event(event.data)` returns):

    ghl.contact.created|updated|deleted|tag_updated|dnd_updated    ContactEvent
    ghl.appointment.created|updated|deleted                        AppointmentEvent
    anything else (ghl.app.install, ghl.opportunity_status.updated ...)   OtherEvent

Fields are snake_case in Python and camelCase on the wire (`location_id` is
`locationId`). The event data is the delivery body exactly as GHL sent it.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
)
from pydantic.alias_generators import to_camel

from schemas.envelope import (
    CloudEvent,
    Delivery,
    MalformedPayload,
    Normalized,
    digest_id,
    format_time,
    in_provider_range,
    malformed_from,
    source_uri,
    validate_lean,
)

PROVIDER = "ghl"

_KNOWN_TYPES = {
    "ContactCreate": "contact.created",
    "ContactUpdate": "contact.updated",
    "ContactDelete": "contact.deleted",
    "ContactTagUpdate": "contact.tag_updated",
    "ContactDndUpdate": "contact.dnd_updated",
    "AppointmentCreate": "appointment.created",
    "AppointmentUpdate": "appointment.updated",
    "AppointmentDelete": "appointment.deleted",
    "INSTALL": "app.install",
    "UNINSTALL": "app.uninstall",
}
CONTACT_TYPES = (
    "ContactCreate",
    "ContactUpdate",
    "ContactDelete",
    "ContactTagUpdate",
    "ContactDndUpdate",
)
APPOINTMENT_TYPES = ("AppointmentCreate", "AppointmentUpdate", "AppointmentDelete")


def _assume_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


Timestamp = Annotated[datetime, AfterValidator(_assume_utc), AfterValidator(in_provider_range)]
"""GHL's ISO 8601 times; the odd one without an offset is read as UTC (`ProviderTime`'s range)."""


def _none_as_empty(value: object) -> object:
    return [] if value is None else value


Strings = Annotated[list[str], BeforeValidator(_none_as_empty)]
"""A list GHL may send as null when empty."""


class GhlModel(BaseModel):
    """GHL objects: immutable, camelCase on the wire, open to fields GHL adds."""

    model_config = ConfigDict(frozen=True, extra="allow", alias_generator=to_camel)


class _Event(GhlModel):
    location_id: str | None = None
    webhook_id: str | None = None
    """GHL's delivery id (documented in the authentication guide; absent from older examples)."""
    timestamp: Timestamp | None = None


class ContactEvent(_Event):
    type: Literal[
        "ContactCreate", "ContactUpdate", "ContactDelete", "ContactTagUpdate", "ContactDndUpdate"
    ]
    location_id: str
    id: str = Field(min_length=1)
    first_name: str | None = None
    last_name: str | None = None
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    tags: Strings = Field(default_factory=list)
    dnd: bool | None = None
    company_name: str | None = None
    source: str | None = None
    country: str | None = None
    date_added: Timestamp | None = None
    date_updated: Timestamp | None = None
    custom_fields: Annotated[list[dict[str, Any]], BeforeValidator(_none_as_empty)] = Field(
        default_factory=list
    )


class Appointment(GhlModel):
    id: str = Field(min_length=1)
    calendar_id: str | None = None
    contact_id: str | None = None
    group_id: str | None = None
    title: str | None = None
    appointment_status: str | None = None
    assigned_user_id: str | None = None
    users: Strings = Field(default_factory=list)
    address: str | None = None
    notes: str | None = None
    source: str | None = None
    start_time: Timestamp | None = None
    end_time: Timestamp | None = None
    date_added: Timestamp | None = None
    date_updated: Timestamp | None = None


class AppointmentEvent(_Event):
    type: Literal["AppointmentCreate", "AppointmentUpdate", "AppointmentDelete"]
    location_id: str
    appointment: Appointment


class OtherEvent(_Event):
    type: str = Field(min_length=1)
    id: str | None = None


def _kind(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    if kind in CONTACT_TYPES:
        return "ContactEvent"
    return "AppointmentEvent" if kind in APPOINTMENT_TYPES else "OtherEvent"


WebhookEvent = Annotated[
    Annotated[ContactEvent, Tag("ContactEvent")]
    | Annotated[AppointmentEvent, Tag("AppointmentEvent")]
    | Annotated[OtherEvent, Tag("OtherEvent")],
    Discriminator(_kind),
]
_EVENTS: TypeAdapter[ContactEvent | AppointmentEvent | OtherEvent] = TypeAdapter(WebhookEvent)
_TAGS = frozenset({"ContactEvent", "AppointmentEvent", "OtherEvent"})
"""Union tags: they appear in error locations, and are named so no wire field can clash."""


def parse_event(data: bytes) -> ContactEvent | AppointmentEvent | OtherEvent:
    """Parse a GHL delivery body (the event data), or raise `MalformedPayload`."""
    try:
        return _EVENTS.validate_json(data)
    except ValidationError as exc:
        raise malformed_from(exc, "GoHighLevel delivery", _TAGS) from None


_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_VERBS = {
    "Create": "created",
    "Update": "updated",
    "Delete": "deleted",
    "Add": "added",
    "Remove": "removed",
    "Change": "changed",
    "Complete": "completed",
    "Submit": "submitted",
}


def event_type(name: str) -> str:
    """The CloudEvents type of a GHL `type`, e.g. `ContactTagUpdate` -> `ghl.contact.tag_updated`.

    Unknown CamelCase names split into a resource and a trailing verb
    (`OpportunityStatusUpdate` -> `ghl.opportunity_status.updated`).
    """
    known = _KNOWN_TYPES.get(name)
    if known is not None:
        return f"{PROVIDER}.{known}"
    if re.fullmatch(r"[A-Z0-9]+(?:_[A-Z0-9]+)*", name):
        return f"{PROVIDER}.app.{name.lower()}"  # app lifecycle events are upper case
    words = _WORD.findall(name)
    if not words:
        raise MalformedPayload("The GoHighLevel delivery has a `type` that names no event.")
    last = words[-1]
    if last in _VERBS and len(words) > 1:
        resource, action = words[:-1], _VERBS[last]
    elif last.endswith("ed") or last in {"Sent", "Paid"}:
        resource, action = words[:-1] or words, last.lower()
    else:
        resource, action = words, "received"
    return f"{PROVIDER}.{'_'.join(word.lower() for word in resource)}.{action}"


def normalize(delivery: Delivery) -> Normalized:
    """One event per delivery, keyed by contact (appointments: by appointment)."""
    event = parse_event(delivery.body)
    if isinstance(event, ContactEvent):
        resource: str = event.id
        moment = event.timestamp or event.date_updated or event.date_added
    elif isinstance(event, AppointmentEvent):
        resource = event.appointment.id
        moment = event.timestamp or event.appointment.date_updated or event.appointment.date_added
    else:
        resource = event.id or event.location_id or ""
        moment = event.timestamp
    time = _utc(moment) if moment is not None else None
    event_id = event.webhook_id or digest_id(
        delivery.source_id,
        event.type,
        resource,
        format_time(time) if time is not None else "",
        hashlib.sha256(delivery.body).hexdigest(),
    )
    cloud_event = CloudEvent(
        id=event_id,
        source=source_uri(delivery.provider, delivery.source_id),
        type=event_type(event.type),
        time=time or delivery.received_at,
        subject=resource,
        tenant=delivery.tenant,
        provider=delivery.provider,
        partitionkey=f"{delivery.tenant}:{resource}",
        data=delivery.body,
    )
    return Normalized(delivery_id=event_id, events=(cloud_event,))


def _utc(moment: datetime) -> datetime:
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise MalformedPayload("The GoHighLevel delivery has a time out of range.") from None


# What the store reads ---------------------------------------------------------------
#
# The consumers validate an event's data again when they apply it. The gateway has
# already checked the whole documented payload at the edge (`parse_event`), so the
# store parses only what it writes: the models below keep every required field of
# the ones above (same types and constraints) and the optional fields the contacts
# and appointments handler reads, and skip the rest (unknown fields are ignored, not
# kept), at about half the cost. A body they reject fails the full models too; the
# parsers then raise the full models' error, so a malformed event reads the same.


class StoredGhlModel(BaseModel):
    """Like `GhlModel`, but fields it does not declare are skipped."""

    model_config = ConfigDict(frozen=True, extra="ignore", alias_generator=to_camel)


class StoredContactEvent(StoredGhlModel):
    """What the store reads of a `ContactEvent`."""

    type: Literal[
        "ContactCreate", "ContactUpdate", "ContactDelete", "ContactTagUpdate", "ContactDndUpdate"
    ]
    location_id: str
    timestamp: Timestamp | None = None
    id: str = Field(min_length=1)
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    tags: Strings = Field(default_factory=list)
    dnd: bool | None = None
    dnd_settings: Any = None
    """`dndSettings`: not a field of `ContactEvent`, which keeps it among its extras."""
    date_updated: Timestamp | None = None


class StoredAppointment(StoredGhlModel):
    """What the store reads of an `Appointment`."""

    id: str = Field(min_length=1)
    calendar_id: str | None = None
    contact_id: str | None = None
    title: str | None = None
    appointment_status: str | None = None
    start_time: Timestamp | None = None
    end_time: Timestamp | None = None
    date_updated: Timestamp | None = None


class StoredAppointmentEvent(StoredGhlModel):
    """What the store reads of an `AppointmentEvent`."""

    type: Literal["AppointmentCreate", "AppointmentUpdate", "AppointmentDelete"]
    location_id: str
    timestamp: Timestamp | None = None
    appointment: StoredAppointment


_STORED_CONTACTS: TypeAdapter[StoredContactEvent] = TypeAdapter(StoredContactEvent)
_STORED_APPOINTMENTS: TypeAdapter[StoredAppointmentEvent] = TypeAdapter(StoredAppointmentEvent)
_CONTACTS: TypeAdapter[ContactEvent] = TypeAdapter(ContactEvent)
_APPOINTMENTS: TypeAdapter[AppointmentEvent] = TypeAdapter(AppointmentEvent)


def parse_stored_contact(data: bytes) -> StoredContactEvent:
    """A contact event's data as the store reads it, or the full `ContactEvent`'s error."""
    return validate_lean(_STORED_CONTACTS, _CONTACTS, data, "GoHighLevel delivery")


def parse_stored_appointment(data: bytes) -> StoredAppointmentEvent:
    """An appointment event's data as the store reads it, or the full model's error."""
    return validate_lean(_STORED_APPOINTMENTS, _APPOINTMENTS, data, "GoHighLevel delivery")
