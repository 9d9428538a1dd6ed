from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import orjson
import pytest

from schemas import ghl, samples
from schemas.envelope import MalformedPayload, digest_id, format_time
from tests.schemas.helpers import NOW, RECEIVED, SOURCE, delivery

CONTACT = "nmFmQEsNgz6AVpgLVUJ0"
APPOINTMENT = "0TkCdp9PfvLeWKYRRvIz"
WEBHOOK = "5f6c8f7e-3d1a-4b2c-9e8f-7a6b5c4d3e2f"


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("ContactCreate", "ghl.contact.created"),
        ("ContactUpdate", "ghl.contact.updated"),
        ("ContactDelete", "ghl.contact.deleted"),
        ("ContactTagUpdate", "ghl.contact.tag_updated"),
        ("ContactDndUpdate", "ghl.contact.dnd_updated"),
    ],
)
def test_contact_events_are_keyed_by_contact(kind: str, expected: str) -> None:
    body = samples.ghl(kind, now=NOW, contact_id=CONTACT, webhook_id=WEBHOOK)

    result = ghl.normalize(delivery("ghl", body))

    (event,) = result.events
    assert event.type == expected
    assert event.id == WEBHOOK == result.delivery_id
    assert event.subject == CONTACT
    assert event.partitionkey == f"acme:{CONTACT}"
    assert event.time == NOW.replace(microsecond=535000)
    assert event.source == f"urn:hookgate:ghl:{SOURCE}"
    assert event.data is body
    parsed = ghl.parse_event(event.data)
    assert isinstance(parsed, ghl.ContactEvent)
    assert (parsed.first_name, parsed.phone, parsed.tags) == (
        "John",
        "+15550102030",
        ["lead", "webinar"],
    )
    assert parsed.location_id == "ve9EPM428h8vShlRW1KT"


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("AppointmentCreate", "ghl.appointment.created"),
        ("AppointmentUpdate", "ghl.appointment.updated"),
        ("AppointmentDelete", "ghl.appointment.deleted"),
    ],
)
def test_appointment_events_are_keyed_by_appointment(kind: str, expected: str) -> None:
    body = samples.ghl(kind, now=NOW, appointment_id=APPOINTMENT, contact_id=CONTACT)

    (event,) = ghl.normalize(delivery("ghl", body)).events

    assert event.type == expected
    assert event.subject == APPOINTMENT
    assert event.partitionkey == f"acme:{APPOINTMENT}"
    parsed = ghl.parse_event(event.data)
    assert isinstance(parsed, ghl.AppointmentEvent)
    assert parsed.appointment.contact_id == CONTACT
    assert parsed.appointment.start_time is not None


def test_a_resent_delivery_keeps_its_webhook_id() -> None:
    body = samples.ghl("ContactUpdate", now=NOW, webhook_id=WEBHOOK)

    first = ghl.normalize(delivery("ghl", body))
    again = ghl.normalize(
        delivery("ghl", bytes(body), received_at=datetime(2027, 1, 1, tzinfo=UTC))
    )

    assert first.delivery_id == again.delivery_id == WEBHOOK


def _without_webhook_id(kind: str) -> bytes:
    body = orjson.loads(samples.ghl(kind, now=NOW))
    del body["webhookId"]
    return orjson.dumps(body)


def test_without_webhook_id_the_id_is_a_stable_digest() -> None:
    body = _without_webhook_id("ContactCreate")

    first = ghl.normalize(delivery("ghl", body))
    again = ghl.normalize(delivery("ghl", body, received_at=RECEIVED.replace(year=2027)))
    changed = ghl.normalize(delivery("ghl", body.replace(b"John", b"Jane")))

    expected = digest_id(
        SOURCE, "ContactCreate", CONTACT, format_time(NOW), hashlib.sha256(body).hexdigest()
    )
    assert first.delivery_id == again.delivery_id == expected
    assert changed.delivery_id != expected


def test_time_falls_back_to_date_updated_then_received_at() -> None:
    body = orjson.loads(_without_webhook_id("AppointmentUpdate"))
    del body["timestamp"]
    body["appointment"]["dateUpdated"] = "2026-03-14T10:00:00+05:30"
    (event,) = ghl.normalize(delivery("ghl", orjson.dumps(body))).events
    assert event.time == datetime(2026, 3, 14, 4, 30, tzinfo=UTC)

    bare = orjson.dumps({"type": "OpportunityStatusUpdate", "locationId": "L1", "id": "o-1"})
    (event,) = ghl.normalize(delivery("ghl", bare)).events
    assert event.time == RECEIVED


def test_a_time_without_offset_is_read_as_utc() -> None:
    body = samples.ghl("ContactCreate", now=NOW).replace(b'.535Z"', b'.535"')

    (event,) = ghl.normalize(delivery("ghl", body)).events

    assert event.time == NOW


def test_null_lists_read_as_empty() -> None:
    body = orjson.loads(samples.ghl("ContactCreate", now=NOW))
    body |= {"tags": None, "customFields": None}

    parsed = ghl.parse_event(orjson.dumps(body))

    assert isinstance(parsed, ghl.ContactEvent)
    assert (parsed.tags, parsed.custom_fields) == ([], [])


def test_unknown_types_pass_with_a_generic_type() -> None:
    body = orjson.dumps(
        {
            "type": "OpportunityStatusUpdate",
            "locationId": "L1",
            "id": "opp-1",
            "status": "won",
            "timestamp": "2026-03-14T15:09:26.535Z",
            "webhookId": "w-9",
        }
    )

    (event,) = ghl.normalize(delivery("ghl", body)).events

    assert event.type == "ghl.opportunity_status.updated"
    assert (event.id, event.subject, event.partitionkey) == ("w-9", "opp-1", "acme:opp-1")
    assert isinstance(ghl.parse_event(event.data), ghl.OtherEvent)


def test_install_is_an_app_event_keyed_by_location() -> None:
    body = orjson.dumps(
        {
            "type": "INSTALL",
            "appId": "ve9EPM428h8vShlRW1KT",
            "locationId": "otg8dTQqGLh3Q6iQI55w",
            "companyId": "otg8dTQqGLh3Q6iQI55w",
            "userId": "otg8dTQqGLh3Q6iQI55w",
            "planId": "66a0419a0dffa47fb5f8b22f",
            "isWhitelabelCompany": True,
            "timestamp": "2026-03-14T15:09:26.535Z",
            "webhookId": "w-install",
        }
    )

    (event,) = ghl.normalize(delivery("ghl", body)).events

    assert event.type == "ghl.app.install"
    assert event.partitionkey == "acme:otg8dTQqGLh3Q6iQI55w"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("UNINSTALL", "ghl.app.uninstall"),
        ("PLAN_CHANGE", "ghl.app.plan_change"),
        ("OpportunityCreate", "ghl.opportunity.created"),
        ("NoteDelete", "ghl.note.deleted"),
        ("TaskComplete", "ghl.task.completed"),
        ("InvoicePaid", "ghl.invoice.paid"),
        ("InboundMessage", "ghl.inbound_message.received"),
        ("LCEmailStats", "ghl.lc_email_stats.received"),
    ],
)
def test_generic_type_names(name: str, expected: str) -> None:
    assert ghl.event_type(name) == expected


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"", "The GoHighLevel delivery is not valid JSON."),
        (b"null", "The GoHighLevel delivery must be a JSON object."),
        (b'{"locationId":"L1"}', "The GoHighLevel delivery is missing `type`."),
        (
            b'{"type":"ContactCreate","locationId":"L1"}',
            "The GoHighLevel delivery is missing `id`.",
        ),
        (b'{"type":"ContactCreate","id":"c"}', "The GoHighLevel delivery is missing `locationId`."),
        (
            b'{"type":"ContactCreate","id":"c","locationId":"L","tags":"x"}',
            "The GoHighLevel delivery has an invalid `tags` (input should be a valid array).",
        ),
        (
            b'{"type":"AppointmentCreate","locationId":"L","appointment":{}}',
            "The GoHighLevel delivery is missing `appointment.id`.",
        ),
        (
            b'{"type":"X","timestamp":"0001-01-01T00:00:00+01:00"}',
            "The GoHighLevel delivery has an invalid `timestamp` "
            "(a provider time must lie between 1970 and 2200).",
        ),
        (b'{"type":"!!!"}', "The GoHighLevel delivery has a `type` that names no event."),
    ],
)
def test_malformed_deliveries_are_refused_with_a_sentence(body: bytes, detail: str) -> None:
    with pytest.raises(MalformedPayload) as caught:
        ghl.normalize(delivery("ghl", body))

    assert caught.value.detail == detail
