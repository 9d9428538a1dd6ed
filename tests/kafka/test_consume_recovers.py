"""`hookgate consume` recovers by itself when the broker comes back: after a cut
connection or a paused broker (longer than the group's session timeout) it applies
what is sent after, without being restarted.

A restarted tansu is not among the cases: it keeps nothing, and clients that reconnect
first re-create the topics with its default partition count, so events land on
partitions the worker only learns of at its next metadata refresh (DESIGN.md: restart
clients after tansu restarts).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from tests.fixtures.kafka import OutageBroker, create_topics
from tests.kafka.consume_cli import consume_env, consuming
from tests.kafka.consuming import count_rows, eventually, invitee_created, publish_events

PARTITIONS = 2
BEFORE = 100
AFTER = 100
OUTAGE_SECONDS = 8.0
"""Longer than the session timeout below: the group forgets the worker meanwhile."""
ARGS = ("--provider", "calendly", "--session-timeout-ms", "3000", "--max-batch", "50")


async def outage(outage_broker: OutageBroker, how: str) -> None:
    """Take the broker away for `OUTAGE_SECONDS`, then bring it back."""
    if how == "proxy_cut":
        outage_broker.proxy.cut()
        await asyncio.sleep(OUTAGE_SECONDS)
        outage_broker.proxy.restore()
    else:
        outage_broker.broker.pause()
        await asyncio.sleep(OUTAGE_SECONDS)
        outage_broker.broker.resume()


@pytest.mark.slow
@pytest.mark.parametrize("how", ["proxy_cut", "broker_paused"])
async def test_consume_recovers_after_the_broker_comes_back(
    outage_broker: OutageBroker, topic_prefix: str, postgres_url: str, tmp_path: Path, how: str
) -> None:
    bootstrap = outage_broker.bootstrap_servers
    topic = f"{topic_prefix}.calendly"
    everything = {f"{topic}[{p}]" for p in range(PARTITIONS)}
    await create_topics(bootstrap, [topic, f"{topic_prefix}.dlq"], partitions=PARTITIONS)
    env = consume_env(bootstrap, postgres_url, topic_prefix)
    engine = create_async_engine(postgres_url)
    try:
        async with consuming("consume", env, tmp_path, *ARGS) as worker:

            async def assigned() -> bool:
                return worker.partitions() == everything

            async def applied(count: int) -> bool:
                return worker.count("applied") == count

            await eventually(assigned, timeout=30, what="the worker joining its group")
            first = [invitee_created(n) for n in range(BEFORE)]
            await publish_events(bootstrap, topic, first)
            await eventually(lambda: applied(BEFORE), timeout=30, what="the first events")

            await outage(outage_broker, how)
            assert worker.process.returncode is None, worker.log_tail()

            later = [invitee_created(n) for n in range(BEFORE, BEFORE + AFTER)]
            await publish_events(bootstrap, topic, later)
            await eventually(
                lambda: applied(BEFORE + AFTER), timeout=40, what="the events sent after"
            )
            assert await worker.terminate() == 0, worker.log_tail()
        assert await count_rows(engine, "SELECT count(*) FROM processed_events") == BEFORE + AFTER
        assert await count_rows(engine, "SELECT count(*) FROM bookings") == BEFORE + AFTER
        print(
            f"{how}: applied {BEFORE} before and {AFTER} after an outage of "
            f"{OUTAGE_SECONDS:g} s; assignments={worker.count('assignments')} "
            f"duplicates={worker.count('duplicates')}"
        )
    finally:
        await engine.dispose()
