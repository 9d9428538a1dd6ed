"""The same history delivered in any order, twice, with duplicates, in any batches,
ends in exactly the rows of the history applied in order."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from consumers.apply import Applier
from schemas import CloudEvent
from tests.store.rows import snapshot
from tests.store.scenario import GONE, NEW, OLD, history

_REFERENCE: dict[str, dict[str, list[dict[str, Any]]]] = {}
_TENANTS = itertools.count()
N = len(history("size"))


async def _in_order(engine: AsyncEngine, applier: Applier) -> dict[str, list[dict[str, Any]]]:
    """The rows of the history applied one event per batch, in order (once per store)."""
    key = str(engine.url)
    if key not in _REFERENCE:
        for event in history("reference"):
            await applier.apply([event])
        _REFERENCE[key] = await snapshot(engine, "reference")
    return _REFERENCE[key]


async def test_the_reference_history_ends_in_the_expected_rows(
    engine: AsyncEngine, applier: Applier
) -> None:
    reference = await _in_order(engine, applier)
    bookings = {row["invitee_uri"]: row for row in reference["bookings"]}
    assert bookings[OLD]["rescheduled_to"] == NEW
    assert bookings[NEW]["status"] == "active"
    assert bookings[NEW]["no_show"] is False
    assert bookings[GONE]["status"] == "canceled"
    assert bookings[GONE]["no_show"] is True
    members = {row["pco_person_id"]: row for row in reference["members"]}
    assert members["1001"]["email"] == "second@x.org"
    assert members["1001"]["phone"] is None
    assert members["1001"]["deleted_at"] is None
    assert members["1002"]["deleted_at"] is not None
    contacts = {row["ghl_contact_id"]: row for row in reference["contacts"]}
    assert contacts["C1"]["tags"] == ["lead", "vip"]
    assert contacts["C1"]["dnd"] is True
    assert contacts["C2"]["deleted_at"] is not None
    appointments = {row["ghl_appointment_id"]: row for row in reference["ghl_appointments"]}
    assert appointments["A1"]["deleted_at"] is None
    assert appointments["A2"]["deleted_at"] is not None


deliveries = st.tuples(
    st.permutations(range(N)),
    st.permutations(range(N)),
    st.lists(st.integers(0, N - 1), max_size=10),
    st.lists(st.integers(1, 12), min_size=1, max_size=30),
)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(delivery=deliveries)
async def test_any_delivery_order_ends_in_the_same_rows(
    engine: AsyncEngine,
    applier: Applier,
    delivery: tuple[list[int], list[int], list[int], list[int]],
) -> None:
    reference = await _in_order(engine, applier)
    first, second, repeats, sizes = delivery
    tenant = f"shuffled-{next(_TENANTS)}"
    events = history(tenant)
    order = [*first, *repeats, *second]
    stream: list[CloudEvent] = [events[index] for index in order]
    for size in itertools.cycle(sizes):
        if not stream:
            break
        batch, stream = stream[:size], stream[size:]
        await applier.apply(batch)
    assert await snapshot(engine, tenant) == reference
