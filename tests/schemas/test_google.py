from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import orjson
import pytest

from schemas import google, samples
from schemas.envelope import MalformedPayload, digest_id
from tests.schemas.helpers import RECEIVED, SOURCE, delivery

CHANNEL = "01234567-89ab-cdef-0123-456789abcdef"
CALENDAR = "team.calendar@example.com"
API = "https://www.googleapis.com/calendar/v3"


def _headers(
    state: str = "exists", number: int = 7, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    headers = samples.google_headers(
        state, channel_id=CHANNEL, message_number=number, calendar_id=CALENDAR, token="t"
    )
    return headers | dict(extra or {})


def test_exists_becomes_calendar_changed() -> None:
    result = google.normalize(delivery("google", headers=_headers()))

    (event,) = result.events
    assert event.type == "google.calendar.changed"
    assert event.id == digest_id(SOURCE, CHANNEL, "7") == result.delivery_id
    assert event.subject == CALENDAR
    assert event.partitionkey == f"acme:{CALENDAR}"
    assert event.time == RECEIVED
    assert event.source == f"urn:hookgate:google:{SOURCE}"
    assert orjson.loads(event.data) == {
        "calendar_id": CALENDAR,
        "channel_id": CHANNEL,
        "resource_id": "ret08u3rv24htgh289g",
        "resource_state": "exists",
        "message_number": 7,
        "resource_uri": (
            "https://www.googleapis.com/calendar/v3/calendars/"
            "team.calendar%40example.com/events?alt=json"
        ),
    }
    change = google.parse_change(event.data)
    assert (change.calendar_id, change.message_number) == (CALENDAR, 7)


def test_not_exists_is_a_change_too() -> None:
    (event,) = google.normalize(delivery("google", headers=_headers("not_exists"))).events

    assert event.type == "google.calendar.changed"


def test_sync_is_acknowledged_with_nothing_to_publish() -> None:
    result = google.normalize(delivery("google", headers=_headers("sync", number=1)))

    assert result.events == ()
    assert result.delivery_id == digest_id(SOURCE, CHANNEL, "1")


def test_a_redelivered_notification_keeps_its_id() -> None:
    first = google.normalize(delivery("google", headers=_headers(number=9)))
    again = google.normalize(
        delivery("google", headers=_headers(number=9), received_at=RECEIVED.replace(hour=18))
    )
    later = google.normalize(delivery("google", headers=_headers(number=12)))

    assert first.delivery_id == again.delivery_id
    assert later.delivery_id != first.delivery_id


def test_notification_model_reads_expiration_and_calendar() -> None:
    headers = samples.google_headers(
        channel_id=CHANNEL,
        message_number=3,
        calendar_id="primary",
        expiration=datetime(2026, 3, 21, 1, 13, 52, tzinfo=UTC),
    )

    notification = google.parse_notification(headers)

    assert headers["x-goog-channel-expiration"] == "Sat, 21 Mar 2026 01:13:52 GMT"
    assert notification.channel_expiration == datetime(2026, 3, 21, 1, 13, 52, tzinfo=UTC)
    assert notification.calendar_id == "primary"


@pytest.mark.parametrize(
    ("uri", "calendar_id"),
    [
        (
            "https://www.googleapis.com/calendar/v3/calendars/my_calendar@gmail.com/events",
            "my_calendar@gmail.com",
        ),
        (
            "https://www.googleapis.com/calendar/v3/calendars/a%2Fb%40group.calendar.google.com/events?alt=json",
            "a/b@group.calendar.google.com",
        ),
        ("https://www.googleapis.com/calendar/v3/calendars/primary/events/", "primary"),
    ],
)
def test_calendar_id_from_uri(uri: str, calendar_id: str) -> None:
    assert google.calendar_id_from_uri(uri) == calendar_id


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        (
            {k: v for k, v in _headers().items() if k != "x-goog-channel-id"},
            "The Google notification lacks the X-Goog-Channel-ID header.",
        ),
        (
            _headers(extra={"x-goog-message-number": "seven"}),
            "The Google notification's X-Goog-Message-Number header is invalid.",
        ),
        (
            _headers(extra={"x-goog-channel-expiration": "someday"}),
            "The Google notification's X-Goog-Channel-Expiration header is invalid.",
        ),
        (
            _headers(extra={"x-goog-resource-uri": f"{API}/users/me/calendarList"}),
            "The Google notification's resource URI does not name a calendar's events.",
        ),
        (
            _headers("gone"),
            "The Google notification's X-Goog-Resource-State is not sync, exists or not_exists.",
        ),
    ],
)
def test_malformed_notifications_are_refused_with_a_sentence(
    headers: dict[str, str], detail: str
) -> None:
    with pytest.raises(MalformedPayload) as caught:
        google.normalize(delivery("google", headers=headers))

    assert caught.value.detail == detail
