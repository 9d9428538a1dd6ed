"""`hookgate replay` on Kafka: a record that always fails is skipped or parked again,
not a wall the replay stops at (`--on-failure skip|park`)."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from consumers.apply import Applier
from consumers.dlq import DeadLetterProducer, ReplayConfig, replay
from schemas import CloudEvent
from schemas.deadletter import H_ATTEMPTS, H_ERROR, H_OFFSET, DeadLetter
from tests.fixtures.kafka import create_topics
from tests.kafka.consuming import count_rows, invitee_created
from tests.kafka.helpers import read_topic
from tests.kafka.test_runner import BrokenForOne


def letter(event: CloudEvent, offset: int, topic: str) -> DeadLetter:
    return DeadLetter(
        topic=topic,
        partition=0,
        offset=offset,
        key=event.partitionkey.encode(),
        value=event.data,
        headers=tuple(event.kafka_headers()),
        group="store",
        attempts=4,
        error_class="RuntimeError",
        error="the first failure",
    )


async def parked(bootstrap: str, prefix: str) -> tuple[str, list[CloudEvent]]:
    """A DLQ holding three dead letters: a good one, the poison, a good one."""
    dlq = f"{prefix}.dlq"
    await create_topics(bootstrap, [dlq], partitions=1)
    events = [invitee_created(n) for n in range(3)]
    producer = DeadLetterProducer(bootstrap, dlq)
    await producer.start()
    try:
        await producer.send([letter(e, n, f"{prefix}.calendly") for n, e in enumerate(events)])
    finally:
        await producer.stop()
    return dlq, events


@pytest.mark.parametrize("on_failure", ["skip", "park"])
async def test_a_record_that_still_fails_does_not_stop_the_replay(
    kafka_bootstrap: str, topic_prefix: str, postgres_engine: AsyncEngine, on_failure: str
) -> None:
    dlq, events = await parked(kafka_bootstrap, topic_prefix)
    handler = BrokenForOne(events[1].subject)
    applier = Applier(postgres_engine, handler.registry)
    config = ReplayConfig(
        kafka_bootstrap,
        dlq,
        f"{topic_prefix}.replay",
        on_failure="skip" if on_failure == "skip" else "park",
    )

    report = await replay(config, apply=applier.apply)

    assert (report.replayed, report.failed) == (2, 1)
    assert report.parked == (1 if on_failure == "park" else 0)
    assert await count_rows(postgres_engine, "SELECT count(*) FROM bookings") == 2
    records = await read_topic(kafka_bootstrap, dlq, expected=4, timeout=3)
    again = await replay(config, apply=applier.apply)  # from the position past the three
    if on_failure == "skip":
        assert len(records) == 3
        assert (again.replayed, again.failed) == (0, 0)
        return
    assert len(records) == 4
    headers = dict(records[-1].headers)
    assert headers["ce_id"] == events[1].id.encode()
    assert headers[H_OFFSET] == b"1"  # still names where it first failed
    assert headers[H_ATTEMPTS] == b"5"
    assert headers[H_ERROR] == b"the booking service refused invitee (simulated)"
    assert (again.replayed, again.failed, again.parked) == (0, 1, 1)  # met again, parked again

    handler.broken = False
    fixed = await replay(config, apply=applier.apply)
    assert (fixed.replayed, fixed.failed) == (1, 0)
    assert await count_rows(postgres_engine, "SELECT count(*) FROM bookings") == 3
