from __future__ import annotations

from datetime import timedelta

import orjson
import pytest

from schemas import calendly, samples
from schemas.envelope import MalformedPayload, digest_id, format_time
from tests.schemas.helpers import NOW, RECEIVED, SOURCE, delivery

INVITEE = "https://api.calendly.com/scheduled_events/EV1/invitees/INV1"
NEW_INVITEE = "https://api.calendly.com/scheduled_events/EV2/invitees/INV2"


def test_invitee_created_becomes_one_event() -> None:
    body = samples.calendly("invitee.created", now=NOW, invitee_uri=INVITEE)

    result = calendly.normalize(delivery("calendly", body))

    (event,) = result.events
    assert event.type == "calendly.invitee.created"
    assert event.id == digest_id(SOURCE, "invitee.created", INVITEE, format_time(NOW))
    assert result.delivery_id == event.id
    assert event.subject == INVITEE
    assert event.partitionkey == f"acme:{INVITEE}"
    assert event.time == NOW
    assert event.source == f"urn:hookgate:calendly:{SOURCE}"
    assert (event.tenant, event.provider) == ("acme", "calendly")
    assert event.data is body


def test_canceled_reschedule_carries_the_new_invitee() -> None:
    body = samples.calendly(
        "invitee.canceled", now=NOW, invitee_uri=INVITEE, rescheduled_to=NEW_INVITEE, reason="x"
    )

    (event,) = calendly.normalize(delivery("calendly", body)).events
    parsed = calendly.parse_event(event.data)

    assert event.type == "calendly.invitee.canceled"
    assert isinstance(parsed, calendly.InviteeEvent)
    assert parsed.payload.rescheduled
    assert parsed.payload.new_invitee == NEW_INVITEE
    assert parsed.payload.status == "canceled"
    assert parsed.payload.cancellation is not None
    assert parsed.payload.cancellation.reason == "x"
    assert parsed.payload.cancellation.canceler_type == "invitee"


def test_created_reschedule_names_the_old_invitee() -> None:
    body = samples.calendly(
        "invitee.created", now=NOW, invitee_uri=NEW_INVITEE, rescheduled_from=INVITEE
    )

    parsed = calendly.parse_event(body)

    assert isinstance(parsed, calendly.InviteeEvent)
    assert parsed.payload.old_invitee == INVITEE
    assert parsed.payload.scheduled_event is not None
    assert parsed.payload.scheduled_event.end_time - parsed.payload.scheduled_event.start_time == (
        timedelta(minutes=30)
    )


def test_a_retry_keeps_the_id_and_other_deliveries_do_not() -> None:
    body = samples.calendly("invitee.created", now=NOW, invitee_uri=INVITEE)
    first = calendly.normalize(delivery("calendly", body))

    resent = calendly.normalize(
        delivery("calendly", bytes(body), received_at=RECEIVED + timedelta(hours=3))
    )
    canceled = calendly.normalize(
        delivery("calendly", samples.calendly("invitee.canceled", now=NOW, invitee_uri=INVITEE))
    )
    other_source = calendly.normalize(delivery("calendly", body, source_id="src_other"))

    assert resent.delivery_id == first.delivery_id
    assert canceled.delivery_id != first.delivery_id
    assert other_source.delivery_id != first.delivery_id


def test_older_payload_without_scheduled_event_is_accepted() -> None:
    envelope = orjson.loads(samples.calendly("invitee.created", now=NOW, invitee_uri=INVITEE))
    del envelope["payload"]["scheduled_event"]

    parsed = calendly.parse_event(orjson.dumps(envelope))

    assert isinstance(parsed, calendly.InviteeEvent)
    assert parsed.payload.scheduled_event is None


def test_unknown_event_passes_with_its_own_type() -> None:
    submission = "https://api.calendly.com/routing_form_submissions/RFS1"
    body = orjson.dumps(
        {
            "event": "routing_form_submission.created",
            "created_at": "2026-03-14T15:09:26.535000Z",
            "created_by": "https://api.calendly.com/users/U1",
            "payload": {"uri": submission, "questions_and_answers": [], "result": None},
        }
    )

    (event,) = calendly.normalize(delivery("calendly", body)).events

    assert event.type == "calendly.routing_form_submission.created"
    assert event.subject == submission
    assert event.partitionkey == f"acme:{submission}"
    assert isinstance(calendly.parse_event(event.data), calendly.OtherEvent)


def test_no_show_is_keyed_by_its_invitee() -> None:
    body = orjson.dumps(
        {
            "event": "invitee_no_show.created",
            "created_at": "2026-03-14T15:09:26Z",
            "payload": {
                "uri": "https://api.calendly.com/invitee_no_shows/NS1",
                "invitee": INVITEE,
                "created_at": "2026-03-14T15:09:26Z",
            },
        }
    )

    (event,) = calendly.normalize(delivery("calendly", body)).events

    assert event.type == "calendly.invitee_no_show.created"
    assert event.partitionkey == f"acme:{INVITEE}"


def _invitee_without(field: str) -> bytes:
    envelope = orjson.loads(samples.calendly("invitee.created", now=NOW, invitee_uri=INVITEE))
    del envelope["payload"][field]
    return orjson.dumps(envelope)


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"{not json", "The Calendly delivery is not valid JSON."),
        (b"[]", "The Calendly delivery must be a JSON object."),
        (b'"invitee.created"', "The Calendly delivery must be a JSON object."),
        (b'{"event":"invitee.created"}', "The Calendly delivery is missing `created_at`."),
        (_invitee_without("uri"), "The Calendly delivery is missing `payload.uri`."),
        (_invitee_without("email"), "The Calendly delivery is missing `payload.email`."),
        (
            b'{"event":"x.y","created_at":"2026-03-14T15:09:26","payload":{}}',
            "The Calendly delivery has an invalid `created_at` (input should have timezone info).",
        ),
        (
            b'{"event":"x.y","created_at":"9999-12-31T23:59:59-23:59","payload":{}}',
            "The Calendly delivery has an invalid `created_at` "
            "(a provider time must lie between 1970 and 2200).",
        ),
        (
            b'{"event":"","created_at":"2026-03-14T15:09:26Z","payload":{}}',
            "The Calendly delivery has an invalid `event` "
            "(string should have at least 1 character).",
        ),
    ],
)
def test_malformed_bodies_are_refused_with_a_sentence(body: bytes, detail: str) -> None:
    with pytest.raises(MalformedPayload) as caught:
        calendly.normalize(delivery("calendly", body))

    assert caught.value.detail == detail
    assert caught.value.code == "malformed_payload"
