"""In Kafka mode a sync publishes remote appointment changes, never hookgate's own writes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.bus.kafka_publisher import KafkaPublisher
from schemas import BusRecord, CloudEvent
from schemas.google import APPOINTMENT_CHANGED
from tests.fixtures.google import GoogleAccount
from tests.fixtures.kafka import create_topics
from tests.google.conftest import open_harness
from tests.google.test_sync import CALENDAR, START, open_channel
from tests.google.test_writes import AUTH, created, metric, run
from tests.kafka.helpers import read_topic


async def test_own_writes_publish_no_remote_change_event(
    google_account: GoogleAccount,
    engine: AsyncEngine,
    tmp_path: Path,
    kafka_bootstrap: str,
    topic_prefix: str,
) -> None:
    topic = f"{topic_prefix}.appointments"
    await create_topics(kafka_bootstrap, [topic])
    async with KafkaPublisher(kafka_bootstrap) as kafka:

        async def publish(events: Sequence[CloudEvent]) -> None:
            await kafka.publish([BusRecord.from_event(event, topic) for event in events])

        async with open_harness(
            google_account, engine, tmp_path, source_cache_seconds=0.0, publish_changes=publish
        ) as harness:
            google_account.emulator.deliver = harness.post_notification
            await open_channel(harness)
            await harness.settle()
            own = await created(harness)
            path = f"/admin/google/{harness.source.id}/events/{CALENDAR}/{own}"
            patched = await harness.gateway.patch(
                path, json={"event": {"summary": "Ours, moved"}}, headers=AUTH
            )
            assert (await run(harness, patched.json()["write_id"]))["status"] == "done"
            await harness.settle()
            remote = await harness.emulator.create_event(
                CALENDAR, summary="Booked at Google", start=START
            )
            await harness.settle()
            own_changes = metric(
                harness, "hookgate_google_sync_changes_total", trigger="notification", origin="self"
            )
            assert own_changes >= 1, "the own writes' notifications were synced"

    records = await read_topic(kafka_bootstrap, topic, expected=1)
    published = [
        (dict(record.headers)["ce_type"].decode(), orjson.loads(record.value or b"{}"))
        for record in records
    ]
    assert [(kind, data["google_event_id"]) for kind, data in published] == [
        (APPOINTMENT_CHANGED, remote.id)
    ]
    assert published[0][1]["origin"] == "remote"
