"""Each change of state is published once, as `hookgate.booking.state_changed`; a
confirmed booking whose meeting ended is swept to `completed`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from consumers.apply import Applier
from consumers.bookings.outbox import STATE_CHANGED, StateChanges
from consumers.bookings.sweeper import MeetingSweeper
from schemas import CloudEvent
from tests.bookings import flow
from tests.bookings.booked import state
from tests.bookings.flow import BOOKING, TENANT
from tests.store.events import at


async def test_each_change_is_published_once(engine: AsyncEngine, applier: Applier) -> None:
    published: list[CloudEvent] = []

    async def publish(events: Sequence[CloudEvent]) -> None:
        published.extend(events)

    changes = StateChanges(engine, publish)
    scheduled, paid = flow.scheduled(), flow.paid()
    await applier.apply([scheduled])
    await applier.apply([paid, paid])
    assert await changes.publish_pending() == 2
    assert await changes.publish_pending() == 0
    assert [event.type for event in published] == [STATE_CHANGED] * 2
    assert [orjson.loads(event.data) for event in published] == [
        {"booking_id": BOOKING, "from": None, "to": "scheduled", "cause_event_id": scheduled.id},
        {"booking_id": BOOKING, "from": "scheduled", "to": "confirmed", "cause_event_id": paid.id},
    ]
    assert len({event.id for event in published}) == 2


async def test_a_failed_publish_is_published_again(engine: AsyncEngine, applier: Applier) -> None:
    async def refuse(events: Sequence[CloudEvent]) -> None:
        raise ConnectionError("the bus is down")

    published: list[CloudEvent] = []

    async def publish(events: Sequence[CloudEvent]) -> None:
        published.extend(events)

    await applier.apply([flow.scheduled()])
    with pytest.raises(ConnectionError):
        await StateChanges(engine, refuse).publish_pending()
    assert await StateChanges(engine, publish).publish_pending() == 1
    assert orjson.loads(published[0].data)["to"] == "scheduled"


async def test_an_ended_confirmed_meeting_is_completed(
    engine: AsyncEngine, applier: Applier
) -> None:
    await applier.apply([flow.scheduled(), flow.paid()])
    before_end = MeetingSweeper(engine, clock=lambda: at(60 * 24 + 10))
    assert await before_end.sweep() == 0
    after_end = MeetingSweeper(engine, clock=lambda: at(60 * 24 + 30) + timedelta(seconds=1))
    assert await after_end.sweep() == 1
    assert await state(engine, TENANT, BOOKING) == "completed"
    assert await after_end.sweep() == 0
