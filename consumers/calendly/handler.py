"""Calendly invitee events → `bookings`.

`invitee.created` makes an `active` booking, `invitee.canceled` a `canceled` one
(final: it outranks any create); a reschedule's canceled invitee links to its
successor through `rescheduled_to`. `invitee_no_show.created/deleted` mark and
unmark a no-show under their own version, so they never undo a cancellation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from consumers.handlers.payloads import parse_as
from consumers.registry import HandlerRegistry, PreparedHandler
from consumers.upsert import Part, upsert_parts
from consumers.versions import parse_time, row_version
from schemas import CloudEvent, MalformedPayload
from schemas.calendly import OtherEvent, StoredInviteeEvent, parse_stored_invitee
from schemas.store import bookings

INVITEE_TYPES = ("calendly.invitee.created", "calendly.invitee.canceled")
NO_SHOW_TYPES = ("calendly.invitee_no_show.created", "calendly.invitee_no_show.deleted")
EVENT_TYPES = INVITEE_TYPES + NO_SHOW_TYPES

_WHAT = "Calendly delivery"
_KEY = ("tenant", "invitee_uri")
_BOOKING_COLUMNS = (
    "event_uri",
    "email",
    "name",
    "status",
    "start_time",
    "end_time",
    "canceled_at",
    "cancel_reason",
    "canceled_by",
    "canceler_type",
    "rescheduled_to",
    "rescheduled_from",
)
_NO_SHOW_COLUMNS = ("no_show", "no_show_uri", "no_show_at")
_BOOKING_PART = Part(_BOOKING_COLUMNS)
_NO_SHOW_PART = Part(_NO_SHOW_COLUMNS, version="no_show_version", absent={"no_show": False})


def register(registry: HandlerRegistry) -> None:
    registry.register(EVENT_TYPES, CalendlyHandler())


Prepared = tuple[Part, dict[str, Any]]
"""The part of the booking an event writes, and its row."""


class CalendlyHandler(PreparedHandler[Prepared]):
    """Bookings and no-show marks: one statement per batch."""

    def prepare(self, event: CloudEvent) -> Prepared:
        if event.type in INVITEE_TYPES:
            return _BOOKING_PART, _booking_row(event, parse_stored_invitee(event.data))
        return _NO_SHOW_PART, _no_show_row(event, parse_as(OtherEvent, event.data, _WHAT))

    async def write(
        self, connection: AsyncConnection, prepared: Sequence[tuple[CloudEvent, Prepared]]
    ) -> None:
        booking_rows = [row for _, (part, row) in prepared if part is _BOOKING_PART]
        no_show_rows = [row for _, (part, row) in prepared if part is _NO_SHOW_PART]
        await upsert_parts(
            connection,
            bookings,
            [(_BOOKING_PART, booking_rows), (_NO_SHOW_PART, no_show_rows)],
            key=_KEY,
        )


def _booking_row(event: CloudEvent, parsed: StoredInviteeEvent) -> dict[str, Any]:
    invitee = parsed.payload
    cancellation = invitee.cancellation
    canceled = parsed.event == "invitee.canceled" or invitee.status == "canceled"
    moment = invitee.updated_at
    if canceled and cancellation is not None and cancellation.created_at is not None:
        moment = max(moment, cancellation.created_at)
    scheduled = invitee.scheduled_event
    name = invitee.name or " ".join(p for p in (invitee.first_name, invitee.last_name) if p)
    return {
        "tenant": event.tenant,
        "invitee_uri": invitee.uri,
        "event_uri": invitee.event,
        "email": invitee.email,
        "name": name or None,
        "status": "canceled" if canceled else "active",
        "start_time": parse_time(scheduled.start_time) if scheduled else None,
        "end_time": parse_time(scheduled.end_time) if scheduled else None,
        "canceled_at": parse_time(cancellation.created_at) if canceled and cancellation else None,
        "cancel_reason": cancellation.reason if canceled and cancellation else None,
        "canceled_by": cancellation.canceled_by if canceled and cancellation else None,
        "canceler_type": cancellation.canceler_type if canceled and cancellation else None,
        "rescheduled_to": invitee.new_invitee if canceled and invitee.rescheduled else None,
        "rescheduled_from": invitee.old_invitee,
        "version": row_version(moment, event.id, final=canceled),
    }


def _no_show_row(event: CloudEvent, parsed: OtherEvent) -> dict[str, Any]:
    invitee = parsed.payload.get("invitee")
    if not isinstance(invitee, str) or not invitee:
        raise MalformedPayload("The Calendly no-show does not name its `invitee`.")
    marked = event.type == "calendly.invitee_no_show.created"
    uri = parsed.payload.get("uri")
    return {
        "tenant": event.tenant,
        "invitee_uri": invitee,
        "no_show": marked,
        "no_show_uri": uri if marked and isinstance(uri, str) else None,
        "no_show_at": parse_time(parsed.payload.get("created_at")) if marked else None,
        "no_show_version": row_version(parsed.created_at, event.id),
    }
