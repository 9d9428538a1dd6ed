"""Stripe Event objects into CloudEvents: ids, types, partitions and the object key."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from schemas import samples, stripe
from schemas.envelope import BusRecord, CloudEvent, MalformedPayload
from tests.schemas.helpers import NOW, SOURCE, delivery

SESSION = "cs_test_a1b2c3"
EVENT_ID = "evt_1SampleEvent0001"


def _event(body: bytes) -> CloudEvent:
    (event,) = stripe.normalize(delivery("stripe", body)).events
    return event


def test_checkout_session_completed_becomes_one_event_with_stripes_id() -> None:
    body = samples.stripe(
        "checkout.session.completed", now=NOW, event_id=EVENT_ID, object_id=SESSION
    )

    result = stripe.normalize(delivery("stripe", body))

    (event,) = result.events
    assert (result.delivery_id, event.id) == (EVENT_ID, EVENT_ID)
    assert event.type == "stripe.checkout_session.completed"
    assert event.subject == SESSION
    assert event.partitionkey == "acme:bkg_sample"
    assert event.objectkey == f"{SESSION}:checkout.session.completed"
    assert event.time == NOW.replace(microsecond=0)
    assert event.source == f"urn:hookgate:stripe:{SOURCE}"
    assert (event.tenant, event.provider) == ("acme", "stripe")
    assert event.data is body


@pytest.mark.parametrize(
    ("stripe_type", "hookgate_type"),
    [
        (
            "checkout.session.async_payment_succeeded",
            "stripe.checkout_session.async_payment_succeeded",
        ),
        ("payment_intent.succeeded", "stripe.payment_intent.succeeded"),
        ("charge.refunded", "stripe.charge.refunded"),
        ("charge.refund.updated", "stripe.charge_refund.updated"),
        ("refund.created", "stripe.refund.created"),
    ],
)
def test_dotted_object_names_are_joined_by_underscores(
    stripe_type: str, hookgate_type: str
) -> None:
    assert stripe.event_type(stripe_type) == hookgate_type


def test_a_payment_keeps_to_its_booking_through_metadata() -> None:
    body = samples.stripe("charge.refunded", now=NOW, booking_id="bkg_42")
    assert _event(body).partitionkey == "acme:bkg_42"


def test_an_object_naming_no_booking_is_its_own_partition() -> None:
    value = orjson.loads(samples.stripe("refund.updated", now=NOW, object_id="re_1"))
    value["data"]["object"]["metadata"] = {}
    assert _event(orjson.dumps(value)).partitionkey == "acme:re_1"


def test_two_event_objects_for_one_change_share_the_object_key() -> None:
    first, second = (
        _event(samples.stripe("refund.created", now=NOW, event_id=evt, object_id="re_1"))
        for evt in ("evt_first", "evt_second")
    )

    assert first.id != second.id
    assert first.objectkey == second.objectkey == "re_1:refund.created"


def test_the_object_key_travels_on_the_bus() -> None:
    event = _event(samples.stripe("payment_intent.succeeded", now=NOW))

    record = BusRecord.from_event(event, "hookgate.stripe")

    assert dict(record.headers)["ce_objectkey"] == b"pi_3SampleIntent0001:payment_intent.succeeded"
    assert record.to_event() == event


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        (lambda e: e.pop("id"), "The Stripe delivery is missing `id`."),
        (lambda e: e.update(id="ch_1"), "The Stripe delivery has an invalid `id`"),
        (lambda e: e.update(object="v2.core.event"), "The Stripe delivery has an invalid `object`"),
        (lambda e: e.update(created="yesterday"), "The Stripe delivery has an invalid `created`"),
        (lambda e: e.update(created=2**40), "The Stripe delivery has an invalid `created`"),
        (lambda e: e["data"].pop("object"), "The Stripe delivery is missing `data.object`."),
    ],
)
def test_a_body_that_is_no_stripe_event_is_malformed(
    change: Callable[[dict[str, Any]], object], detail: str
) -> None:
    value = orjson.loads(samples.stripe("charge.refunded", now=NOW))
    change(value)

    with pytest.raises(MalformedPayload) as caught:
        stripe.normalize(delivery("stripe", orjson.dumps(value)))

    assert caught.value.detail.startswith(detail)


@pytest.mark.parametrize("body", [b"not json", b"[]"])
def test_not_a_json_object_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedPayload):
        stripe.normalize(delivery("stripe", body))


def test_an_object_without_an_id_takes_the_events() -> None:
    value = orjson.loads(samples.stripe("charge.refunded", now=NOW, event_id=EVENT_ID))
    value["type"] = "balance.available"
    value["data"]["object"] = {"object": "balance", "available": [{"amount": 1, "currency": "usd"}]}

    event = _event(orjson.dumps(value))

    assert (event.subject, event.partitionkey) == (EVENT_ID, f"acme:{EVENT_ID}")
    assert event.objectkey == f"{EVENT_ID}:balance.available"
