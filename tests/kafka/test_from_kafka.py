"""`CloudEvent.from_kafka` builds without validation, so it checks what validation would."""

from __future__ import annotations

import pytest

from schemas import BusRecord, CloudEvent
from tests.kafka.helpers import sample_event


def _record(**replace: bytes) -> tuple[list[tuple[str, bytes]], bytes, bytes]:
    record = BusRecord.from_event(sample_event(7), "t")
    headers = [(name, replace.get(name, raw)) for name, raw in record.headers]
    return [(name, raw) for name, raw in headers if raw != b"-"], record.key, record.value


def test_round_trip_equals_the_validated_event() -> None:
    event = sample_event(7)
    headers, key, value = _record()
    decoded = CloudEvent.from_kafka(headers, key, value)
    assert decoded == event
    assert decoded.model_fields_set == event.model_fields_set
    assert decoded.model_dump_json() == event.model_dump_json()
    assert repr(decoded) == repr(event)
    assert CloudEvent.model_validate(decoded.model_dump()) == decoded


@pytest.mark.parametrize(
    ("replace", "error"),
    [
        ({"ce_id": b"-"}, KeyError),
        ({"ce_tenant": b"-"}, KeyError),
        ({"ce_time": b"-"}, KeyError),
        ({"ce_time": b"2024-05-01T12:00:00"}, ValueError),
        ({"ce_time": b"yesterday"}, ValueError),
        ({"ce_source": b"\xff\xfe"}, UnicodeDecodeError),
    ],
)
def test_bad_headers_raise_what_the_runners_park(
    replace: dict[str, bytes], error: type[Exception]
) -> None:
    headers, key, value = _record(**replace)
    with pytest.raises(error):
        CloudEvent.from_kafka(headers, key, value)


def test_a_null_value_is_no_event() -> None:
    headers, key, _ = _record()
    with pytest.raises(ValueError, match="event data"):
        CloudEvent.from_kafka(headers, key, None)  # type: ignore[arg-type]


def test_frozen_like_a_validated_event() -> None:
    headers, key, value = _record()
    decoded = CloudEvent.from_kafka(headers, key, value)
    with pytest.raises(ValueError, match="frozen"):
        decoded.id = "other"  # type: ignore[misc]
    assert hash(decoded) == hash(sample_event(7))
