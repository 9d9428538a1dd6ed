"""Google Calendar push notifications (events.watch channels), and the normalizer.

A notification has no body: its headers only say that a calendar changed. `exists`
and `not_exists` become one `google.calendar.changed` event, whose data is a
`CalendarChange` (`parse_change(event.data)`); the `sync` handshake sent when a
channel opens is acknowledged and publishes nothing: the gateway publishes its own
change when it opens a channel (`channel_opened`), so the calendar's first full sync
starts then instead of waiting for a change or the periodic resync.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Annotated, Any
from urllib.parse import unquote, urlsplit

import orjson
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from schemas.envelope import (
    CloudEvent,
    Delivery,
    MalformedPayload,
    Normalized,
    digest_id,
    source_uri,
)

PROVIDER = "google"
CHANGED = "google.calendar.changed"
CHANGE_STATES = frozenset({"exists", "not_exists"})
SYNC_STATE = "sync"

HEADERS = {
    "channel_id": "X-Goog-Channel-ID",
    "message_number": "X-Goog-Message-Number",
    "resource_id": "X-Goog-Resource-ID",
    "resource_state": "X-Goog-Resource-State",
    "resource_uri": "X-Goog-Resource-URI",
    "channel_expiration": "X-Goog-Channel-Expiration",
}
"""Notification field -> the header Google sends it in."""

_EVENTS_PATH = re.compile(r"/calendars/([^/]+)/events/?$")


def _http_date(value: object) -> object:
    """`Tue, 19 Nov 2013 01:13:52 GMT` -> an aware datetime (pydantic reports what fails)."""
    if not isinstance(value, str):
        return value
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        raise ValueError("not an HTTP date") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class Notification(BaseModel):
    """The headers of one push notification."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    channel_id: str = Field(min_length=1)
    message_number: int = Field(ge=0)
    """1 for `sync`, then increasing but not sequential."""
    resource_id: str = Field(min_length=1)
    resource_state: str = Field(min_length=1)
    """`sync`, `exists` or `not_exists`."""
    resource_uri: str = Field(min_length=1)
    channel_expiration: Annotated[datetime | None, BeforeValidator(_http_date)] = None
    """Sent only for channels that expire."""

    @property
    def calendar_id(self) -> str:
        """The watched calendar, from `.../calendars/{calendarId}/events` (URL-decoded)."""
        return calendar_id_from_uri(self.resource_uri)


class CalendarChange(BaseModel):
    """The data of a `google.calendar.changed` event."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    calendar_id: str
    channel_id: str
    resource_id: str
    resource_state: str
    message_number: int
    resource_uri: str


def calendar_id_from_uri(uri: str) -> str:
    """`https://www.googleapis.com/calendar/v3/calendars/a%40b.com/events?alt=json` -> `a@b.com`."""
    match = _EVENTS_PATH.search(urlsplit(uri).path)
    calendar_id = unquote(match.group(1)) if match else ""
    if not calendar_id:
        raise MalformedPayload(
            "The Google notification's resource URI does not name a calendar's events."
        )
    return calendar_id


def parse_notification(headers: Mapping[str, str]) -> Notification:
    """Read a notification from request headers (lower-case names), or raise `MalformedPayload`."""
    fields: dict[str, Any] = {}
    for field, header in HEADERS.items():
        value = headers.get(header.lower())
        if value is not None:
            fields[field] = value.strip()
    try:
        return Notification.model_validate(fields)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        header = HEADERS.get(str(error["loc"][0]), str(error["loc"][0]))
        if error["type"] == "missing":
            raise MalformedPayload(f"The Google notification lacks the {header} header.") from None
        raise MalformedPayload(f"The Google notification's {header} header is invalid.") from None


def parse_change(data: bytes) -> CalendarChange:
    """Parse the data of a `google.calendar.changed` event."""
    try:
        return CalendarChange.model_validate_json(data)
    except ValidationError:
        raise MalformedPayload("The calendar change is not a valid CalendarChange.") from None


def normalize(delivery: Delivery) -> Normalized:
    """`exists`/`not_exists` -> one `google.calendar.changed`; `sync` -> nothing to publish.

    The calendar is read from `X-Goog-Resource-URI`, which nothing signs: the gateway
    uses `normalize_on_channels`, which takes it from the channel's own record.
    """
    notification = parse_notification(delivery.headers)
    return _normalized(delivery, notification, notification.calendar_id)


def normalize_on_channels(delivery: Delivery, channels: Mapping[str, str]) -> Normalized:
    """As `normalize`, but the calendar is the one the notification's channel watches.

    `channels`: the source's live channels, channel id -> calendar id, from the store
    (the verifier has checked the signed token names this channel). A channel not among
    them (stopped, replaced, or the source disconnected) is acknowledged and publishes
    nothing, whatever `X-Goog-Resource-URI` claims.
    """
    notification = parse_notification(delivery.headers)
    return _normalized(delivery, notification, channels.get(notification.channel_id))


def _normalized(
    delivery: Delivery, notification: Notification, calendar_id: str | None
) -> Normalized:
    event_id = digest_id(
        delivery.source_id, notification.channel_id, str(notification.message_number)
    )
    state = notification.resource_state
    if state == SYNC_STATE:
        return Normalized(delivery_id=event_id, events=())
    if state not in CHANGE_STATES:
        raise MalformedPayload(
            "The Google notification's X-Goog-Resource-State is not sync, exists or not_exists."
        )
    if calendar_id is None:
        return Normalized(delivery_id=event_id, events=())
    change = CalendarChange(
        calendar_id=calendar_id,
        channel_id=notification.channel_id,
        resource_id=notification.resource_id,
        resource_state=state,
        message_number=notification.message_number,
        resource_uri=notification.resource_uri,
    )
    event = CloudEvent(
        id=event_id,
        source=source_uri(delivery.provider, delivery.source_id),
        type=CHANGED,
        time=delivery.received_at,
        subject=calendar_id,
        tenant=delivery.tenant,
        provider=delivery.provider,
        partitionkey=f"{delivery.tenant}:{calendar_id}",
        data=orjson.dumps(change.model_dump()),
    )
    return Normalized(delivery_id=event_id, events=(event,))


def channel_opened(
    *,
    source_id: str,
    tenant: str,
    calendar_id: str,
    channel_id: str,
    resource_id: str,
    at: datetime,
) -> CloudEvent:
    """The `google.calendar.changed` the gateway publishes for a channel it just opened
    on `calendar_id` (`resource_state` `sync`, `message_number` 0, as no notification
    has): the consumers sync the calendar in full the first time, and only what
    changed after that."""
    change = CalendarChange(
        calendar_id=calendar_id,
        channel_id=channel_id,
        resource_id=resource_id,
        resource_state=SYNC_STATE,
        message_number=0,
        resource_uri="",
    )
    return CloudEvent(
        id=digest_id(source_id, channel_id, "opened"),
        source=source_uri(PROVIDER, source_id),
        type=CHANGED,
        time=at,
        subject=calendar_id,
        tenant=tenant,
        provider=PROVIDER,
        partitionkey=f"{tenant}:{calendar_id}",
        data=orjson.dumps(change.model_dump()),
    )


def notified_channel(headers: Mapping[str, str]) -> str | None:
    """The `X-Goog-Channel-ID` of a notification's headers (lower-case names), if any."""
    value = headers.get("x-goog-channel-id")
    return value.strip() if value is not None else None


APPOINTMENT_CHANGED = "google.appointment.changed"
APPOINTMENTS_TOPIC = "appointments"
"""The topic suffix (`{prefix}.appointments`) remote appointment changes go to."""


def _iso(value: object) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


def appointment_changed(source_id: str, row: Mapping[str, Any], at: datetime) -> CloudEvent:
    """The `google.appointment.changed` a sync publishes for an `appointments` row that
    changed at Google by someone other than hookgate (never for hookgate's own writes).
    The id is a digest of the event and its etag: one change, one id, however often a
    sync sees it."""
    tenant = str(row["tenant"])
    event_id = str(row["google_event_id"])
    data = {
        "calendar_id": row["calendar_id"],
        "google_event_id": event_id,
        "etag": row.get("etag"),
        "summary": row.get("summary"),
        "status": row.get("status"),
        "start_time": _iso(row.get("start_time")),
        "end_time": _iso(row.get("end_time")),
        "updated": _iso(row.get("updated")),
        "origin": "remote",
    }
    return CloudEvent(
        id=digest_id(source_id, str(row["calendar_id"]), event_id, str(row.get("etag"))),
        source=source_uri(PROVIDER, source_id),
        type=APPOINTMENT_CHANGED,
        time=at,
        subject=event_id,
        tenant=tenant,
        provider=PROVIDER,
        partitionkey=f"{tenant}:{event_id}",
        data=orjson.dumps(data),
    )
