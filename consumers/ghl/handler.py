"""GoHighLevel events → `contacts` and `ghl_appointments`.

Contact events write the contact's columns; `ContactDelete` writes a tombstone
(with the contact as deleted, which the event carries) that outranks any create.
Do-not-disturb has its own version: `ContactDndUpdate` writes only `dnd` and
`dnd_settings`, and every other contact event that carries `dnd` competes for
them by time. Appointments work like contacts, `AppointmentDelete` a tombstone.

Only GHL's own times order writes: `dateUpdated`, else the payload's `timestamp`.
An event with neither (its `dateAdded` is the same for every update of a contact,
its arrival time grows with each redelivery) gets an untimed version, which never
overwrites a write that carried a time (`consumers.versions.untimed_version`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from consumers.handlers.phone_cache import e164
from consumers.phones import DEFAULT_REGION, default_regions
from consumers.registry import HandlerRegistry, PreparedHandler
from consumers.upsert import Part, upsert, upsert_parts
from consumers.versions import parse_time, row_version, untimed_version
from schemas import CloudEvent
from schemas.ghl import (
    StoredAppointmentEvent,
    StoredContactEvent,
    parse_stored_appointment,
    parse_stored_contact,
)
from schemas.store import contacts, ghl_appointments

CONTACT_TYPES = tuple(
    f"ghl.contact.{action}"
    for action in ("created", "updated", "deleted", "tag_updated", "dnd_updated")
)
APPOINTMENT_TYPES = tuple(
    f"ghl.appointment.{action}" for action in ("created", "updated", "deleted")
)
EVENT_TYPES = CONTACT_TYPES + APPOINTMENT_TYPES

_CONTACT_KEY = ("tenant", "ghl_contact_id")
_CONTACT_COLUMNS = (
    "location_id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "tags",
    "deleted_at",
)
_DND_COLUMNS = ("dnd", "dnd_settings")
_CONTACT_PART = Part(_CONTACT_COLUMNS)
_DND_PART = Part(_DND_COLUMNS, version="dnd_version")
_APPOINTMENT_COLUMNS = (
    "location_id",
    "calendar_id",
    "contact_id",
    "title",
    "status",
    "start_time",
    "end_time",
    "deleted_at",
)


def register(registry: HandlerRegistry) -> None:
    registry.register(EVENT_TYPES, GhlHandler())


@dataclass(frozen=True, slots=True)
class Prepared:
    """The rows one event writes; a contact's `phone` is still as GHL sent it."""

    contact: dict[str, Any] | None = None
    dnd: dict[str, Any] | None = None
    appointment: dict[str, Any] | None = None


class GhlHandler(PreparedHandler[Prepared]):
    """Contacts with their do-not-disturb part, appointments: one statement each."""

    def prepare(self, event: CloudEvent) -> Prepared:
        if event.type not in CONTACT_TYPES:
            appointment = parse_stored_appointment(event.data)
            return Prepared(appointment=_appointment_row(event, appointment))
        parsed = parse_stored_contact(event.data)
        moment = _provider_time(parsed.date_updated, parsed.timestamp)
        version = _version(moment, event.id)
        dnd_only = event.type == "ghl.contact.dnd_updated"
        return Prepared(
            contact=None if dnd_only else _contact_row(event, parsed, moment, version),
            dnd=None if parsed.dnd is None else _dnd_row(event, parsed, version),
        )

    async def write(
        self, connection: AsyncConnection, prepared: Sequence[tuple[CloudEvent, Prepared]]
    ) -> None:
        contact_rows = [
            (event, item.contact) for event, item in prepared if item.contact is not None
        ]
        regions = await default_regions(
            connection, {event.source for event, row in contact_rows if row["phone"]}
        )
        for event, row in contact_rows:
            row["phone"] = e164(row["phone"], regions.get(event.source, DEFAULT_REGION))
        await upsert_parts(
            connection,
            contacts,
            [
                (_CONTACT_PART, [row for _, row in contact_rows]),
                (_DND_PART, [item.dnd for _, item in prepared if item.dnd is not None]),
            ],
            key=_CONTACT_KEY,
        )
        await upsert(
            connection,
            ghl_appointments,
            [item.appointment for _, item in prepared if item.appointment is not None],
            key=("tenant", "ghl_appointment_id"),
            update=_APPOINTMENT_COLUMNS,
        )


def _provider_time(*candidates: datetime | None) -> datetime | None:
    """The first provider time given, or None: the event carries no time that orders it."""
    for moment in candidates:
        if moment is not None:
            return moment
    return None


def _version(moment: datetime | None, event_id: str, *, final: bool = False) -> int:
    if moment is None:
        return untimed_version(event_id, final=final)
    return row_version(moment, event_id, final=final)


def _contact_row(
    event: CloudEvent, parsed: StoredContactEvent, moment: datetime | None, version: int
) -> dict[str, Any]:
    """`version`: the event's (not final) version at `moment`, shared with its dnd row."""
    deleted = event.type == "ghl.contact.deleted"
    return {
        "tenant": event.tenant,
        "ghl_contact_id": parsed.id,
        "location_id": parsed.location_id,
        "first_name": parsed.first_name,
        "last_name": parsed.last_name,
        "email": parsed.email,
        "phone": parsed.phone,
        "tags": list(parsed.tags),
        "deleted_at": parse_time(moment or event.time) if deleted else None,
        "version": _version(moment, event.id, final=True) if deleted else version,
    }


def _dnd_row(event: CloudEvent, parsed: StoredContactEvent, version: int) -> dict[str, Any]:
    settings = parsed.dnd_settings
    return {
        "tenant": event.tenant,
        "ghl_contact_id": parsed.id,
        "dnd": parsed.dnd,
        "dnd_settings": settings if isinstance(settings, dict) else None,
        "dnd_version": version,
    }


def _appointment_row(event: CloudEvent, parsed: StoredAppointmentEvent) -> dict[str, Any]:
    appointment = parsed.appointment
    moment = _provider_time(appointment.date_updated, parsed.timestamp)
    deleted = event.type == "ghl.appointment.deleted"
    return {
        "tenant": event.tenant,
        "ghl_appointment_id": appointment.id,
        "location_id": parsed.location_id,
        "calendar_id": appointment.calendar_id,
        "contact_id": appointment.contact_id,
        "title": appointment.title,
        "status": appointment.appointment_status,
        "start_time": parse_time(appointment.start_time),
        "end_time": parse_time(appointment.end_time),
        "deleted_at": parse_time(moment or event.time) if deleted else None,
        "version": _version(moment, event.id, final=deleted),
    }
