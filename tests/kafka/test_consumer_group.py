"""Two `hookgate consume` processes in one group share the partitions; when one stops
(SIGTERM), the other takes its partitions over and applies everything sent after."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from tests.fixtures.kafka import create_topics
from tests.kafka.consume_cli import consume_env, consuming
from tests.kafka.consuming import count_rows, eventually, invitee_created, publish_events

PARTITIONS = 4
BEFORE = 400
AFTER = 400
ARGS = ("--provider", "calendly", "--session-timeout-ms", "3000", "--max-batch", "50")


@pytest.mark.slow
async def test_two_consume_processes_share_partitions_and_one_takes_over(
    kafka_bootstrap: str, topic_prefix: str, postgres_url: str, tmp_path: Path
) -> None:
    topic = f"{topic_prefix}.calendly"
    everything = {f"{topic}[{p}]" for p in range(PARTITIONS)}
    await create_topics(kafka_bootstrap, [topic, f"{topic_prefix}.dlq"], partitions=PARTITIONS)
    env = consume_env(kafka_bootstrap, postgres_url, topic_prefix)
    engine = create_async_engine(postgres_url)

    async def processed() -> int:
        return await count_rows(engine, "SELECT count(*) FROM processed_events")

    try:
        async with (
            consuming("a", env, tmp_path, *ARGS) as a,
            consuming("b", env, tmp_path, *ARGS) as b,
        ):

            async def shared() -> bool:
                mine, theirs = a.partitions(), b.partitions()
                return bool(mine) and bool(theirs) and mine | theirs == everything

            await eventually(shared, timeout=40, what="both workers owning partitions")
            assert not a.partitions() & b.partitions()
            first = [invitee_created(n) for n in range(BEFORE)]
            await publish_events(kafka_bootstrap, topic, first)

            async def all_counted(a_and_b: int) -> bool:
                return a.count("applied") + b.count("applied") == a_and_b

            await eventually(lambda: all_counted(BEFORE), timeout=30, what="the first events")
            first_a, first_b = a.count("applied"), b.count("applied")
            assert first_a > 0, a.log_tail()
            assert first_b > 0, b.log_tail()
            assert await processed() == BEFORE

            assert await a.terminate() == 0, a.log_tail()
            assert a.stats()["partitions"] == []  # it left the group

            async def b_owns_everything() -> bool:
                return b.partitions() == everything

            await eventually(b_owns_everything, timeout=30, what="b taking a's partitions")
            await publish_events(
                kafka_bootstrap, topic, [invitee_created(n) for n in range(BEFORE, BEFORE + AFTER)]
            )

            async def b_applied_the_rest() -> bool:
                return b.count("applied") == first_b + AFTER

            await eventually(b_applied_the_rest, timeout=30, what="b applying the later events")
            assert await b.terminate() == 0, b.log_tail()
            final_b, duplicates = b.count("applied"), b.count("duplicates")
        assert a.count("applied") == first_a
        assert duplicates == 0
        assert await processed() == BEFORE + AFTER
        assert await count_rows(engine, "SELECT count(*) FROM bookings") == BEFORE + AFTER
        assert (
            await count_rows(engine, "SELECT count(DISTINCT invitee_uri) FROM bookings")
            == BEFORE + AFTER
        )
        print(
            f"a applied {first_a}, b applied {first_b} of the first {BEFORE}; "
            f"after a stopped, b applied {final_b - first_b} of {AFTER}; "
            f"rows {BEFORE + AFTER}"
        )
    finally:
        await engine.dispose()
