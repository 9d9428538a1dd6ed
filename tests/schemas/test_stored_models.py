"""The store's lean models read what the full models read, from every body those accept.

Each provider module keeps, beside its full (ingress) models, smaller ones holding
what the store handlers read (`Stored*`). From sample deliveries (`schemas.samples`),
mutated at random (fields dropped, nulled, replaced by other JSON, extra ones
added): whatever the full model accepts, the store's parser accepts too and every
field it holds equals the full model's; whatever the store's parser rejects, it
rejects with the full model's error.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from consumers.handlers.payloads import parse_as
from schemas import MalformedPayload, calendly, ghl, pco, samples

Path = tuple[str | int, ...]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(["2026-03-14T15:09:26Z", "2026-03-14T15:09:26", "Person", "Email"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_FIRST = datetime(2001, 1, 1)  # noqa: DTZ001 - hypothesis takes naive bounds
_LAST = datetime(2099, 1, 1)  # noqa: DTZ001
moments = st.datetimes(min_value=_FIRST, max_value=_LAST, timezones=st.just(UTC))


def _calendly_body(event: str, now: datetime, rescheduled: bool) -> bytes:
    other = f"{samples.CALENDLY_API}/scheduled_events/E2/invitees/I2"
    return samples.calendly(
        event,
        now=now,
        rescheduled_to=other if rescheduled and event == "invitee.canceled" else None,
        rescheduled_from=other if rescheduled and event == "invitee.created" else None,
        reason="changed plans" if rescheduled else "",
    )


def _pco_body(event: str, now: datetime) -> bytes:
    outer = orjson.loads(samples.pco(event, now=now))
    payload: str = outer["data"][0]["attributes"]["payload"]
    return payload.encode()


def _paths(value: Any, prefix: Path = ()) -> list[Path]:
    """Every member and item of `value` (JSON), outermost first."""
    found: list[Path] = []
    items: list[tuple[str | int, Any]] = (
        list(value.items())
        if isinstance(value, dict)
        else list(enumerate(value))
        if isinstance(value, list)
        else []
    )
    for key, inner in items:
        found.append((*prefix, key))
        found.extend(_paths(inner, (*prefix, key)))
    return found


@st.composite
def mutated(draw: st.DrawFn, body: bytes) -> bytes:
    """`body` with up to three of its members or items dropped, nulled or replaced,
    and members added."""
    document = orjson.loads(body)
    for _ in range(draw(st.integers(0, 3))):
        paths = _paths(document)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent: Any = document
        for key in path[:-1]:
            parent = parent[key]
        last = path[-1]
        action = draw(st.sampled_from(["drop", "null", "replace", "add"]))
        if action == "drop":
            del parent[last]
        elif action == "null":
            parent[last] = None
        elif action == "replace":
            parent[last] = draw(json_values)
        elif isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=8))] = draw(json_values)
    return orjson.dumps(document)


def _same(stored: Any, full: Any, where: str = "") -> None:
    """Every field `stored` holds equals the full model's (recursively)."""
    if isinstance(stored, BaseModel):
        assert isinstance(full, BaseModel), where
        for name in type(stored).model_fields:
            if isinstance(stored, ghl.StoredContactEvent) and name == "dnd_settings":
                wanted = (full.model_extra or {}).get("dndSettings")
                assert stored.dnd_settings == wanted, f"{where}.dndSettings"
                continue
            _same(getattr(stored, name), getattr(full, name), f"{where}.{name}")
    elif isinstance(stored, dict):
        assert isinstance(full, dict), where
        assert stored.keys() == full.keys(), where
        for key, value in stored.items():
            _same(value, full[key], f"{where}[{key!r}]")
    elif isinstance(stored, list):
        assert isinstance(full, list), where
        assert len(stored) == len(full), where
        for index, (mine, theirs) in enumerate(zip(stored, full, strict=True)):
            _same(mine, theirs, f"{where}[{index}]")
    else:
        assert type(stored) is type(full), where
        assert stored == full, where


def _read(parse: Callable[[bytes], BaseModel], body: bytes) -> BaseModel | str:
    """What `parse` makes of `body`, or its `MalformedPayload` detail."""
    try:
        return parse(body)
    except MalformedPayload as exc:
        return exc.detail


def _agree(
    body: bytes,
    stored: Callable[[bytes], BaseModel],
    full: Callable[[bytes], BaseModel],
) -> None:
    expected, got = _read(full, body), _read(stored, body)
    if isinstance(expected, str):
        # the store's models may accept it (they skip fields the store does not read);
        # when they reject it, they say what the full model says
        assert isinstance(got, BaseModel) or got == expected
        return
    assert isinstance(got, BaseModel), got
    _same(got, expected)


LENIENT = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@LENIENT
@given(
    st.sampled_from(["invitee.created", "invitee.canceled"]),
    moments,
    st.booleans(),
    st.data(),
)
def test_calendly_invitees_read_as_the_full_model_reads_them(
    event: str, now: datetime, rescheduled: bool, data: st.DataObject
) -> None:
    body = data.draw(mutated(_calendly_body(event, now, rescheduled)))
    _agree(
        body,
        calendly.parse_stored_invitee,
        lambda raw: parse_as(calendly.InviteeEvent, raw, "Calendly delivery"),
    )


GHL_CONTACTS = [name for name in samples.SAMPLE_EVENTS["ghl"] if name.startswith("Contact")]
GHL_APPOINTMENTS = [name for name in samples.SAMPLE_EVENTS["ghl"] if name.startswith("Appoint")]


@LENIENT
@given(st.sampled_from(GHL_CONTACTS + GHL_APPOINTMENTS), moments, st.data())
def test_ghl_events_read_as_the_full_model_reads_them(
    event: str, now: datetime, data: st.DataObject
) -> None:
    body = data.draw(mutated(samples.ghl(event, now=now)))
    if event in GHL_CONTACTS:
        stored: Callable[[bytes], BaseModel] = ghl.parse_stored_contact
        model: type[BaseModel] = ghl.ContactEvent
    else:
        stored, model = ghl.parse_stored_appointment, ghl.AppointmentEvent
    _agree(body, stored, lambda raw: parse_as(model, raw, "GoHighLevel delivery"))


def _resource(event: str) -> str:
    return event.rpartition(".events.")[2].rpartition(".")[0]


@LENIENT
@given(st.sampled_from(samples.SAMPLE_EVENTS["pco"]), moments, st.data())
def test_pco_documents_read_as_the_full_model_reads_them(
    event: str, now: datetime, data: st.DataObject
) -> None:
    body = data.draw(mutated(_pco_body(event, now)))
    expected = _read(pco.parse_document, body)
    parsed = _read(lambda raw: pco.parse_stored_document(_resource(event), raw), body)
    if isinstance(expected, str):
        assert not isinstance(parsed, pco.Document)  # what the full model rejects
        assert not isinstance(parsed, str) or parsed == expected
        return
    assert isinstance(expected, pco.Document)
    assert isinstance(parsed, pco.Document | pco.StoredDocument), parsed
    assert parsed.person_id == expected.person_id
    if isinstance(parsed, pco.Document):
        assert parsed == expected  # not this resource's type: read by the full model
    else:
        _same(parsed, expected)


@pytest.mark.parametrize("event", samples.SAMPLE_EVENTS["pco"])
def test_pco_samples_are_read_by_the_store_models(event: str) -> None:
    parsed = pco.parse_stored_document(_resource(event), _pco_body(event, datetime.now(UTC)))
    assert not isinstance(parsed, pco.Document)


def test_a_pco_document_of_another_type_is_read_by_the_full_model() -> None:
    body = _pco_body("email.created", datetime.now(UTC))
    parsed = pco.parse_stored_document("person", body)
    assert isinstance(parsed, pco.Document)
    assert isinstance(parsed.data, pco.Email)


def test_a_malformed_body_gets_the_full_models_error() -> None:
    body = orjson.loads(samples.ghl("ContactCreate", now=datetime.now(UTC)))
    body["id"] = ""
    raw = orjson.dumps(body)
    with pytest.raises(MalformedPayload) as full:
        parse_as(ghl.ContactEvent, raw, "GoHighLevel delivery")
    with pytest.raises(MalformedPayload) as stored:
        ghl.parse_stored_contact(raw)
    assert stored.value.detail == full.value.detail


def test_ghl_dnd_settings_are_read_from_the_wire_name() -> None:
    body = orjson.loads(samples.ghl("ContactDndUpdate", now=datetime.now(UTC)))
    body["dndSettings"] = {"SMS": {"status": "active"}}
    parsed = ghl.parse_stored_contact(orjson.dumps(body))
    assert parsed.dnd_settings == {"SMS": {"status": "active"}}


def test_the_store_parsers_raise_no_validation_error() -> None:
    with pytest.raises(MalformedPayload):
        calendly.parse_stored_invitee(b"{}")
    with pytest.raises(MalformedPayload):
        pco.parse_stored_document("person", b"[]")
    with pytest.raises((MalformedPayload, ValidationError)) as caught:
        ghl.parse_stored_appointment(b'{"type": "AppointmentCreate"}')
    assert caught.type is MalformedPayload
