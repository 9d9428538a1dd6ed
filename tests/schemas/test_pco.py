from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import orjson
import pytest

from schemas import pco, samples
from schemas.envelope import MalformedPayload
from tests.schemas.helpers import NOW, RECEIVED, SOURCE, delivery

DELIVERY_ID = "87f49852-1a2a-45cb-b4d2-0fa30eda0823"
PERSON = "136901110"


def _inner(body: bytes, index: int = 0) -> str:
    payload: str = orjson.loads(body)["data"][index]["attributes"]["payload"]
    return payload


def test_person_created_becomes_pco_person_created() -> None:
    body = samples.pco(
        "people.v2.events.person.created", now=NOW, person_id=PERSON, delivery_id=DELIVERY_ID
    )

    result = pco.normalize(delivery("pco", body))

    (event,) = result.events
    assert event.type == "pco.person.created"
    assert event.id == DELIVERY_ID == result.delivery_id
    assert event.subject == PERSON
    assert event.partitionkey == f"acme:{PERSON}"
    assert event.time == NOW.replace(microsecond=0)
    assert event.source == f"urn:hookgate:pco:{SOURCE}"
    assert event.data == _inner(body).encode()
    document = pco.parse_document(event.data)
    assert isinstance(document.data, pco.Person)
    assert document.data.attributes is not None
    assert document.data.attributes.first_name == "Grace"
    assert document.data.attributes.status == "active"


@pytest.mark.parametrize("resource", ["email", "phone_number"])
@pytest.mark.parametrize("action", ["created", "updated", "destroyed"])
def test_contact_details_are_keyed_by_their_person(resource: str, action: str) -> None:
    body = samples.pco(f"{resource}.{action}", now=NOW, person_id=PERSON, resource_id="92311522")

    (event,) = pco.normalize(delivery("pco", body)).events

    assert event.type == f"pco.{resource}.{action}"
    assert event.subject == "92311522"
    assert event.partitionkey == f"acme:{PERSON}"
    document = pco.parse_document(event.data)
    assert document.person_id == PERSON
    if action == "destroyed":
        assert document.data.attributes is None
        assert event.time == RECEIVED
    else:
        assert event.time == NOW.replace(microsecond=0)


def test_phone_number_model_reads_e164_and_email_model_the_address() -> None:
    phone = pco.parse_document(_inner(samples.pco("phone_number.created", now=NOW)))
    email = pco.parse_document(_inner(samples.pco("email.updated", now=NOW)))

    assert isinstance(phone.data, pco.PhoneNumber)
    assert phone.data.attributes is not None
    assert phone.data.attributes.e164 == "+15550102030"
    assert phone.data.person_id == "136901110"
    assert isinstance(email.data, pco.Email)
    assert email.data.attributes is not None
    assert (email.data.attributes.address, email.data.attributes.primary) == (
        "grace@example.org",
        True,
    )


def test_person_destroyed_has_no_attributes() -> None:
    body = samples.pco("person.destroyed", now=NOW, person_id=PERSON)

    (event,) = pco.normalize(delivery("pco", body)).events
    document = pco.parse_document(event.data)

    assert event.type == "pco.person.destroyed"
    assert isinstance(document.data, pco.Person)
    assert document.data.attributes is None
    assert event.partitionkey == f"acme:{PERSON}"


def test_a_later_attempt_keeps_the_id() -> None:
    first = samples.pco("person.updated", now=NOW, delivery_id=DELIVERY_ID, attempt=1)
    third = samples.pco("person.updated", now=NOW, delivery_id=DELIVERY_ID, attempt=3)
    other = samples.pco("person.updated", now=NOW)

    ids = {pco.normalize(delivery("pco", body)).delivery_id for body in (first, third)}

    assert ids == {DELIVERY_ID}
    assert pco.normalize(delivery("pco", other)).delivery_id != DELIVERY_ID


def test_every_element_of_data_becomes_an_event() -> None:
    one = orjson.loads(samples.pco("person.created", now=NOW, delivery_id="d-1"))
    two = orjson.loads(samples.pco("email.created", now=NOW, delivery_id="d-2"))
    body = orjson.dumps({"data": one["data"] + two["data"]})

    result = pco.normalize(delivery("pco", body))

    assert [event.id for event in result.events] == ["d-1", "d-2"]
    assert [event.type for event in result.events] == ["pco.person.created", "pco.email.created"]
    assert result.delivery_id == "d-1"


def _envelope(name: str, inner: Mapping[str, object]) -> bytes:
    return orjson.dumps(
        {
            "data": [
                {
                    "id": "e-1",
                    "type": "EventDelivery",
                    "attributes": {
                        "name": name,
                        "attempt": 1,
                        "payload": orjson.dumps(inner).decode(),
                    },
                    "relationships": {
                        "organization": {"data": {"type": "Organization", "id": "1"}}
                    },
                }
            ]
        }
    )


def test_other_apps_keep_their_app_name() -> None:
    inner = {
        "data": {
            "type": "Plan",
            "id": "69259663",
            "attributes": {"title": None, "updated_at": "2026-03-14T15:09:26Z"},
            "relationships": {"service_type": {"data": {"type": "ServiceType", "id": "1429991"}}},
            "links": {"self": "https://api.planningcenteronline.com/services/v2/plans/69259663"},
        },
        "included": [],
        "meta": {
            "parent": {"id": "1429991", "type": "ServiceType"},
            "event_time": "2026-03-14T15:09:26Z",
        },
    }

    (event,) = pco.normalize(
        delivery("pco", _envelope("services.v2.events.plan.created", inner))
    ).events

    assert event.type == "pco.services.plan.created"
    assert event.subject == "69259663"
    assert event.partitionkey == "acme:69259663"
    assert event.time == datetime(2026, 3, 14, 15, 9, 26, tzinfo=UTC)
    assert isinstance(pco.parse_document(event.data).data, pco.OtherResource)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("people.v2.events.person.updated", "pco.person.updated"),
        ("people.v2.events.workflow_card.step_ready", "pco.workflow_card.step_ready"),
        ("groups.v2.events.membership.destroyed", "pco.groups.membership.destroyed"),
        (
            "groups.church_center.v2.events.group_application.created",
            "pco.groups.church_center.group_application.created",
        ),
        ("something.odd", "pco.something.odd"),
    ],
)
def test_event_type_mapping(name: str, expected: str) -> None:
    assert pco.event_type(name) == expected


def test_a_membership_without_meta_is_keyed_by_its_person() -> None:
    inner = {
        "data": {
            "type": "Membership",
            "id": "m-1",
            "relationships": {"person": {"data": {"type": "Person", "id": PERSON}}},
        }
    }

    (event,) = pco.normalize(
        delivery("pco", _envelope("groups.v2.events.membership.destroyed", inner))
    ).events

    assert event.partitionkey == f"acme:{PERSON}"
    assert event.time == RECEIVED


def _envelope_raw(payload: str) -> bytes:
    item = {"id": "e", "type": "EventDelivery", "attributes": {"name": "a", "payload": payload}}
    return orjson.dumps({"data": [item]})


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"\xff\xfe", "The Planning Center delivery is not valid JSON."),
        (b"[1]", "The Planning Center delivery must be a JSON object."),
        (
            b'{"data":[]}',
            "The Planning Center delivery has an invalid `data` "
            "(list should have at least 1 item after validation, not 0).",
        ),
        (
            b'{"data":{}}',
            "The Planning Center delivery has an invalid `data` (input should be a valid array).",
        ),
        (
            b'{"data":[{"id":"e","type":"Subscription","attributes":{"name":"a","payload":"{}"}}]}',
            "The Planning Center delivery has an invalid `data[0].type` "
            "(input should be 'EventDelivery').",
        ),
        (
            b'{"data":[{"id":"e","type":"EventDelivery","attributes":{"name":"a","payload":{}}}]}',
            "The Planning Center delivery has an invalid `data[0].attributes.payload` "
            "(input should be a valid string).",
        ),
        (_envelope_raw("nope"), "The Planning Center event payload is not valid JSON."),
        (_envelope_raw("{}"), "The Planning Center event payload is missing `data`."),
    ],
)
def test_malformed_deliveries_are_refused_with_a_sentence(body: bytes, detail: str) -> None:
    with pytest.raises(MalformedPayload) as caught:
        pco.normalize(delivery("pco", body))

    assert caught.value.detail == detail


def test_a_person_missing_updated_at_is_refused() -> None:
    inner = {"data": {"type": "Person", "id": PERSON, "attributes": {"first_name": "A"}}}

    with pytest.raises(MalformedPayload) as caught:
        pco.normalize(delivery("pco", _envelope("people.v2.events.person.updated", inner)))

    assert caught.value.detail == (
        "The Planning Center event payload is missing `data.attributes.updated_at`."
    )
