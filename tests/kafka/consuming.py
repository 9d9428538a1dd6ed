"""Helpers for the consumer tests: calendly events on a topic, the store read back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.bus.kafka_publisher import KafkaPublisher
from schemas import BusRecord, CloudEvent
from tests.store import events as sample_events

INVITEE = "https://api.calendly.com/scheduled_events/ev/invitees/"


def invitee_created(n: int, tenant: str = "acme") -> CloudEvent:
    return sample_events.calendly(
        tenant, "invitee.created", sample_events.at(n), invitee_uri=f"{INVITEE}{n:06d}"
    )


async def publish_events(bootstrap: str, topic: str, events: list[CloudEvent]) -> None:
    async with KafkaPublisher(bootstrap, timeout_seconds=10) as publisher:
        await publisher.start(wait_seconds=10)
        for start in range(0, len(events), 500):
            chunk = events[start : start + 500]
            await publisher.publish([BusRecord.from_event(event, topic) for event in chunk])


async def count_rows(engine: AsyncEngine, sql: str) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(text(sql))).scalar_one())


async def eventually(
    check: Callable[[], Awaitable[bool]], *, timeout: float = 30.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)
