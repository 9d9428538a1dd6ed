"""A consumer killed with SIGKILL mid-batch: after a restart each event is applied once."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from tests.fixtures.kafka import create_topics
from tests.kafka.consuming import count_rows, invitee_created, publish_events

EVENTS = 1000
ROOT = Path(__file__).resolve().parents[2]


async def start_consumer(env: dict[str, str], pause: float) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.kafka.consume_process",
        str(pause),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def next_line(process: asyncio.subprocess.Process, timeout: float = 30.0) -> str:
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), timeout)
    assert line, "the consumer exited"
    return line.decode().strip()


def counts(line: str) -> tuple[int, int]:
    match = re.fullmatch(r"applied=(\d+) duplicates=(\d+)", line)
    assert match, line
    return int(match[1]), int(match[2])


@pytest.mark.slow
async def test_kill_9_mid_batch_applies_each_event_once(
    kafka_bootstrap: str, topic_prefix: str, postgres_url: str
) -> None:
    await create_topics(kafka_bootstrap, [f"{topic_prefix}.calendly", f"{topic_prefix}.dlq"])
    await publish_events(
        kafka_bootstrap, f"{topic_prefix}.calendly", [invitee_created(n) for n in range(EVENTS)]
    )
    env = {
        **os.environ,
        "HOOKGATE_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "HOOKGATE_DATABASE_URL": postgres_url,
        "HOOKGATE_TOPIC_PREFIX": topic_prefix,
    }
    engine = create_async_engine(postgres_url)
    try:
        # first life: killed while its third batch is in the store but not committed
        first = await start_consumer(env, pause=2.0)
        applied_first = [counts(await next_line(first)) for _ in range(3)]
        first.send_signal(signal.SIGKILL)
        await first.wait()
        in_store = await count_rows(engine, "SELECT count(*) FROM bookings")
        assert in_store == sum(applied for applied, _ in applied_first)

        # second life: re-reads the uncommitted batch, the ledger skips it
        second = await start_consumer(env, pause=0.0)
        applied = duplicates = 0
        while applied + in_store < EVENTS:
            batch_applied, batch_duplicates = counts(await next_line(second))
            applied += batch_applied
            duplicates += batch_duplicates
        second.send_signal(signal.SIGTERM)
        assert await next_line(second) == "stopped"
        assert await asyncio.wait_for(second.wait(), 30) == 0

        assert await count_rows(engine, "SELECT count(*) FROM bookings") == EVENTS
        assert (
            await count_rows(engine, "SELECT count(DISTINCT invitee_uri) FROM bookings") == EVENTS
        )
        assert await count_rows(engine, "SELECT count(*) FROM processed_events") == EVENTS
        assert applied + in_store == EVENTS
        # at least the killed batch came again and was recognised (the pause before the
        # offset commit is what made the kill land there)
        assert duplicates >= applied_first[-1][0] > 0
        print(
            f"first life applied {in_store} in {len(applied_first)} batches, killed; "
            f"second life applied {applied}, skipped {duplicates} duplicates"
        )
    finally:
        await engine.dispose()
