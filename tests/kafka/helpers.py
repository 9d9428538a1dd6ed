"""Helpers shared by the Kafka tests: sample events and reading a topic back."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord

from schemas import BusRecord, CloudEvent


def sample_event(n: int, *, key: str = "acme:invitee-1", tenant: str = "acme") -> CloudEvent:
    return CloudEvent(
        id=f"evt-{n:06d}",
        source="urn:hookgate:calendly:src-1",
        type="calendly.invitee.created",
        time=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        subject=key.split(":", 1)[1],
        tenant=tenant,
        provider="calendly",
        partitionkey=key,
        data=orjson.dumps({"n": n}),
    )


def sample_record(topic: str, n: int, *, key: str = "acme:invitee-1") -> BusRecord:
    return BusRecord.from_event(sample_event(n, key=key), topic)


async def read_topic(
    bootstrap_servers: str, topic: str, *, expected: int, timeout: float = 20.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record on `topic` from the beginning, once `expected` arrived (or the timeout)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    deadline = time.monotonic() + timeout
    try:
        while len(records) < expected and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for batch in batches.values():
                records.extend(batch)
        # a short grace period shows records beyond `expected` (duplicates) too
        await asyncio.sleep(0)
        for batch in (await consumer.getmany(timeout_ms=300)).values():
            records.extend(batch)
    finally:
        await consumer.stop()
    return records


def ce_id(record: ConsumerRecord[bytes, bytes]) -> str:
    headers: dict[str, bytes] = dict(record.headers)
    return headers["ce_id"].decode()
