"""Every order of a booking's events, with duplicates (redelivered, or the same thing
as a second Stripe Event object), in any batches, ends in the same state and facts."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from consumers.apply import Applier
from consumers.bookings.desk import BookingDesk
from schemas import CloudEvent
from tests.bookings import flow
from tests.bookings.booked import booking, facts
from tests.bookings.flow import BOOKING
from tests.store.events import at

_TENANTS = itertools.count()


def _stripe(event_type: str, obj: dict[str, Any], minutes: float) -> Callable[[str], CloudEvent]:
    def make(tenant: str) -> CloudEvent:
        return flow.stripe(
            event_type,
            obj,
            tenant=tenant,
            minutes=minutes,
            event_id=f"evt_{event_type.replace('.', '_')}",
        )

    return make


PAID = _stripe("checkout.session.completed", flow.session(), 3)
SUCCEEDED = _stripe("payment_intent.succeeded", flow.payment_intent(), 3.5)
FLOWS: dict[str, tuple[str, list[Callable[[str], CloudEvent]]]] = {
    "paid": ("confirmed", [flow.scheduled, PAID, SUCCEEDED]),
    "rescheduled": (
        "confirmed",
        [
            flow.scheduled,
            PAID,
            lambda tenant: flow.rescheduled(tenant)[0],
            lambda tenant: flow.rescheduled(tenant)[1],
        ],
    ),
    "expired": (
        "abandoned",
        [flow.scheduled, _stripe("checkout.session.expired", flow.session("unpaid"), 40)],
    ),
    "retried": (
        "confirmed",
        [
            flow.scheduled,
            _stripe("payment_intent.payment_failed", flow.payment_intent(), 2),
            SUCCEEDED,
            PAID,
        ],
    ),
    "refunded": (
        "refunded",
        [
            flow.scheduled,
            PAID,
            flow.canceled,
            _stripe("charge.refunded", flow.charge(flow.AMOUNT), 8),
            _stripe(
                "refund.created",
                {
                    "id": "re_1",
                    "object": "refund",
                    "payment_intent": flow.INTENT,
                    "amount": flow.AMOUNT,
                    "status": "succeeded",
                    "currency": "usd",
                },
                8,
            ),
        ],
    ),
}


async def _play(
    engine: AsyncEngine,
    applier: Applier,
    name: str,
    order: list[tuple[int, bool]],
    sizes: list[int],
) -> tuple[str, list[tuple[Any, ...]]]:
    """Apply the flow's events in `order` (index, as a second Event object) in batches of
    `sizes`; the final state and the facts, event ids as the flow's positions."""
    tenant = f"{name}-{next(_TENANTS)}"
    desk = BookingDesk(engine, lambda: at(0))
    await desk.open(tenant, BOOKING, {"calendly_source_id": "src", "event_type_uri": "et"})
    await desk.checkout_opened(tenant, BOOKING, flow.SESSION, {"amount": flow.AMOUNT})
    made = [make(tenant) for make in FLOWS[name][1]]
    positions = {event.id: str(index) for index, event in enumerate(made)}
    events = []
    for index, second in order:
        event = made[index]
        if second and event.provider == "stripe":
            event = event.model_copy(update={"id": f"{event.id}_again"})
            positions[event.id] = positions[made[index].id]
        events.append(event)
    for size in itertools.cycle(sizes):
        if not events:
            break
        await applier.apply(events[:size])
        events = events[size:]
    known = [
        (subject, fact, value, moment, positions.get(event_id, event_id))
        for subject, fact, value, moment, event_id in await facts(engine, tenant)
    ]
    return str((await booking(engine, tenant, BOOKING))["state"]), known


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[str, list[tuple[int, bool]], list[int]]:
    name = draw(st.sampled_from(sorted(FLOWS)))
    count = len(FLOWS[name][1])
    order = [(index, False) for index in draw(st.permutations(range(count)))]
    repeats = draw(st.lists(st.tuples(st.integers(0, count - 1), st.booleans()), max_size=4))
    for repeat in repeats:
        order.insert(draw(st.integers(0, len(order))), repeat)
    return name, order, draw(st.lists(st.integers(1, 4), min_size=1, max_size=5))


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(delivery=deliveries())
async def test_any_order_ends_in_the_same_state_and_facts(
    engine: AsyncEngine, applier: Applier, delivery: tuple[str, list[tuple[int, bool]], list[int]]
) -> None:
    name, order, sizes = delivery
    in_order = [(index, False) for index in range(len(FLOWS[name][1]))]
    reference = await _play(engine, applier, name, in_order, [1])
    assert reference[0] == FLOWS[name][0]
    assert await _play(engine, applier, name, order, sizes) == reference
