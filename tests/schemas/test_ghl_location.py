"""Which GHL location a delivery belongs to, and whether a source may take it."""

from __future__ import annotations

import orjson
import pytest

from schemas.ghl_location import location_refusal, payload_location, source_location


def body(location: object) -> bytes:
    return orjson.dumps({"type": "ContactCreate", "locationId": location, "id": "c1"})


def test_the_payloads_top_level_location_is_read_and_anything_else_is_none() -> None:
    assert payload_location(body("L1")) == "L1"
    for odd in (
        b"not json",
        b"[]",
        body(None),
        body(""),
        body(7),
        b'{"contact":{"locationId":"L1"}}',
    ):
        assert payload_location(odd) is None, odd


@pytest.mark.parametrize(
    ("options", "bound"),
    [
        ({}, None),
        ({"location_id": None}, None),
        ({"location_id": " L1 "}, "L1"),
        ({"location_id": ""}, ""),
        ({"location_id": 7}, ""),
        ({"location_id": ["L1"]}, ""),
    ],
)
def test_a_location_id_that_names_no_location_binds_the_source_to_none(
    options: dict[str, object], bound: str | None
) -> None:
    assert source_location(options) == bound


def test_a_bound_source_takes_its_own_location_only() -> None:
    assert location_refusal(body("L1"), own="L1", claimed=set()) is None
    assert location_refusal(body("L2"), own="L1", claimed=set())
    assert location_refusal(body("L2"), own="", claimed=set()), "a broken binding takes none"
    assert location_refusal(b'{"type":"INSTALL"}', own="L1", claimed=set()) is None


def test_an_unbound_source_refuses_the_locations_other_sources_are_bound_to() -> None:
    assert location_refusal(body("L1"), own=None, claimed={"L1"})
    assert location_refusal(body("L9"), own=None, claimed={"L1"}) is None
