"""Whatever a verified delivery holds, a normalizer answers with events or MalformedPayload."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import calendly, ghl, google, pco, stripe
from schemas.envelope import Delivery, MalformedPayload, Normalized
from tests.schemas.helpers import delivery

NORMALIZERS: dict[str, Callable[[Delivery], Normalized]] = {
    "calendly": calendly.normalize,
    "pco": pco.normalize,
    "ghl": ghl.normalize,
    "stripe": stripe.normalize,
}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


def _outcome(normalize: Callable[[Delivery], Normalized], item: Delivery) -> None:
    detail: str | None = None
    try:
        result = normalize(item)
    except MalformedPayload as exc:
        detail = exc.detail
    if detail is not None:
        assert detail.startswith("The ")
        assert detail.endswith(".")
        return
    for event in result.events:
        event.kafka_headers()  # every attribute encodes for the wire
    assert result.delivery_id


@settings(max_examples=300, deadline=None)
@given(provider=st.sampled_from(sorted(NORMALIZERS)), body=st.binary(max_size=300))
def test_arbitrary_bytes(provider: str, body: bytes) -> None:
    _outcome(NORMALIZERS[provider], delivery(provider, body))


@settings(max_examples=300, deadline=None)
@given(provider=st.sampled_from(sorted(NORMALIZERS)), value=json_values)
def test_arbitrary_json(provider: str, value: Any) -> None:
    _outcome(NORMALIZERS[provider], delivery(provider, orjson.dumps(value)))


def _shaped(draw: st.DrawFn) -> tuple[str, bytes]:
    """Bodies close to real ones: the documented keys with arbitrary values."""
    value = st.none() | st.text(max_size=12) | st.integers(-(2**63), 2**63 - 1) | json_values
    provider = draw(st.sampled_from(sorted(NORMALIZERS)))
    if provider == "calendly":
        body: Any = {
            "event": draw(st.sampled_from(["invitee.created", "invitee.canceled", "x.y"]) | value),
            "created_at": draw(
                st.sampled_from(["2026-03-14T15:09:26Z", "9999-12-31T23:59:59-23:59"]) | value
            ),
            "payload": draw(
                st.fixed_dictionaries({"uri": value, "email": value, "invitee": value}) | value
            ),
        }
    elif provider == "ghl":
        body = {
            "type": draw(
                st.sampled_from(["ContactCreate", "AppointmentDelete", "INSTALL"])
                | st.text(max_size=12)
            ),
            "locationId": draw(value),
            "id": draw(value),
            "appointment": draw(st.fixed_dictionaries({"id": value}) | value),
            "timestamp": draw(
                st.sampled_from(["0001-01-01T00:00:00+01:00", "2026-03-14T15:09:26Z"]) | value
            ),
            "webhookId": draw(value),
        }
    elif provider == "stripe":
        body = {
            "id": draw(st.sampled_from(["evt_1NG8Du2eZvKYlo2CUI79vXWy", "evt_"]) | value),
            "object": draw(st.just("event") | value),
            "type": draw(st.sampled_from(["checkout.session.completed", "charge", "a..b"]) | value),
            "created": draw(st.sampled_from([1_773_500_966, 2**40, -1, True]) | value),
            "livemode": draw(st.booleans() | value),
            "data": draw(
                st.fixed_dictionaries(
                    {
                        "object": st.fixed_dictionaries(
                            {
                                "id": st.sampled_from(["cs_test_a1", "ch_1"]) | value,
                                "object": value,
                                "client_reference_id": value,
                                "metadata": st.fixed_dictionaries({"booking_id": value}) | value,
                            }
                        )
                        | value
                    }
                )
                | value
            ),
        }
    else:
        inner = {
            "data": draw(
                st.fixed_dictionaries(
                    {"type": st.sampled_from(["Person", "Email", "Plan"]) | value, "id": value}
                )
                | value
            ),
            "meta": draw(st.fixed_dictionaries({"event_time": value, "parent": value}) | value),
        }
        body = {
            "data": [
                {
                    "id": draw(value),
                    "type": "EventDelivery",
                    "attributes": {
                        "name": draw(st.text(max_size=40)),
                        "payload": orjson.dumps(inner).decode(),
                    },
                }
            ]
        }
    return provider, orjson.dumps(body)


@settings(max_examples=400, deadline=None)
@given(case=st.composite(_shaped)())
def test_almost_valid_bodies(case: tuple[str, bytes]) -> None:
    provider, body = case
    _outcome(NORMALIZERS[provider], delivery(provider, body))


@settings(max_examples=300, deadline=None)
@given(
    headers=st.dictionaries(
        st.sampled_from([name.lower() for name in google.HEADERS.values()] + ["x-other"]),
        st.text(max_size=80)
        | st.sampled_from(
            ["exists", "sync", "1", "https://www.googleapis.com/calendar/v3/calendars/%ZZ/events"]
        ),
    )
)
def test_arbitrary_google_headers(headers: dict[str, str]) -> None:
    _outcome(google.normalize, delivery("google", headers=headers))
