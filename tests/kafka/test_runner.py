"""KafkaRunner: dead letters after retries, replay, and partitions shared in a group."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from aiokafka.structs import TopicPartition
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from consumers.apply import Applier
from consumers.calendly import handler as calendly
from consumers.dlq import ReplayConfig, replay
from consumers.kafka_runner import KafkaRunner, KafkaRunnerConfig
from consumers.registry import HandlerRegistry
from schemas import CloudEvent
from schemas.deadletter import H_ATTEMPTS, H_ERROR, H_ERROR_CLASS, H_OFFSET, H_TOPIC
from tests.fixtures.kafka import create_topics
from tests.kafka.consuming import count_rows, eventually, invitee_created, publish_events
from tests.kafka.helpers import read_topic


class BrokenForOne:
    """Wraps the Calendly handler; fails on one invitee while `broken`."""

    def __init__(self, poison_uri: str) -> None:
        inner = HandlerRegistry()
        calendly.register(inner)
        self.handler = inner.resolve("calendly.invitee.created")
        self.poison_uri = poison_uri
        self.broken = True
        self.failures = 0
        self.registry = HandlerRegistry()
        self.registry.register(inner.event_types, self)

    async def __call__(self, connection: AsyncConnection, events: Sequence[CloudEvent]) -> None:
        if self.broken and any(event.subject == self.poison_uri for event in events):
            self.failures += 1
            raise RuntimeError("the booking service refused invitee (simulated)")
        assert self.handler is not None
        await self.handler(connection, events)


async def test_poison_goes_to_dlq_after_retries_and_replay_applies_it(
    kafka_bootstrap: str, topic_prefix: str, postgres_url: str
) -> None:
    topic, dlq = f"{topic_prefix}.calendly", f"{topic_prefix}.dlq"
    await create_topics(kafka_bootstrap, [topic, dlq], partitions=1)
    events = [invitee_created(n) for n in range(10)]
    poison = events[4]
    await publish_events(kafka_bootstrap, topic, events)

    handler = BrokenForOne(poison.subject)
    engine = create_async_engine(postgres_url)
    applier = Applier(engine, handler.registry)
    config = KafkaRunnerConfig(
        kafka_bootstrap,
        (topic,),
        f"{topic_prefix}.store",
        dlq,
        max_retries=2,
        backoff_initial_seconds=0.01,
    )
    runner = KafkaRunner(config, applier.apply)
    task = asyncio.create_task(runner.run())
    try:
        await eventually(lambda: _ready(runner.stats.dead_letters == 1), what="a dead letter")
        await eventually(
            lambda: _ready(runner.stats.commits >= 1 and runner.stats.events == 10),
            what="the batch committed",
        )
    finally:
        runner.stop()
        await task
    assert await count_rows(engine, "SELECT count(*) FROM bookings") == 9
    # 1 try + 2 retries of the batch, then the poison alone once
    assert handler.failures == 4
    assert runner.stats.retries == 2

    [letter] = await read_topic(kafka_bootstrap, dlq, expected=1)
    headers = dict(letter.headers)
    assert headers[H_TOPIC] == topic.encode()
    assert headers[H_OFFSET] == b"4"
    assert headers[H_ERROR_CLASS] == b"RuntimeError"
    assert headers[H_ERROR] == b"the booking service refused invitee (simulated)"
    assert headers[H_ATTEMPTS] == b"4"
    assert headers["ce_id"] == poison.id.encode()
    assert letter.value == poison.data

    replay_config = ReplayConfig(kafka_bootstrap, dlq, f"{topic_prefix}.replay")
    still_broken = await replay(replay_config, apply=applier.apply)
    assert (still_broken.replayed, still_broken.failed) == (0, 1)
    assert "RuntimeError" in still_broken.errors[0]

    handler.broken = False
    fixed = await replay(replay_config, apply=applier.apply)
    assert (fixed.replayed, fixed.failed) == (1, 0)
    assert await count_rows(engine, "SELECT count(*) FROM bookings") == 10
    again = await replay(replay_config, apply=applier.apply)
    assert again.replayed == 0  # the stored position is past it
    await engine.dispose()


async def _ready(value: bool) -> bool:
    return value


async def test_two_runners_share_partitions_and_take_over(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    topic, dlq = f"{topic_prefix}.calendly", f"{topic_prefix}.dlq"
    await create_topics(kafka_bootstrap, [topic, dlq], partitions=4)
    seen: dict[str, list[str]] = {"a": [], "b": []}

    def apply_as(name: str) -> Callable[[Sequence[CloudEvent]], Awaitable[None]]:
        async def apply(events: Sequence[CloudEvent]) -> None:
            seen[name].extend(event.id for event in events)

        return apply

    def config() -> KafkaRunnerConfig:
        return KafkaRunnerConfig(
            kafka_bootstrap,
            (topic,),
            f"{topic_prefix}.store",
            dlq,
            session_timeout_ms=6000,
            heartbeat_interval_ms=500,
        )

    a, b = KafkaRunner(config(), apply_as("a")), KafkaRunner(config(), apply_as("b"))
    tasks = {"a": asyncio.create_task(a.run()), "b": asyncio.create_task(b.run())}
    everything = {TopicPartition(topic, p) for p in range(4)}
    try:
        await eventually(
            lambda: _ready(
                bool(a.assignment)
                and bool(b.assignment)
                and a.assignment | b.assignment == everything
                and not a.assignment & b.assignment
            ),
            what="both runners assigned",
        )
        shared = (len(a.assignment), len(b.assignment))
        await publish_events(kafka_bootstrap, topic, [invitee_created(n) for n in range(40)])
        await eventually(lambda: _ready(len(seen["a"]) + len(seen["b"]) == 40), what="40 events")
        assert seen["a"]
        assert seen["b"]

        a.stop()
        await tasks.pop("a")
        await eventually(lambda: _ready(b.assignment == everything), what="b takes over")
        await publish_events(kafka_bootstrap, topic, [invitee_created(n) for n in range(40, 80)])
        await eventually(lambda: _ready(len(seen["a"]) + len(seen["b"]) >= 80), what="80 events")
    finally:
        for runner in (a, b):
            runner.stop()
        await asyncio.gather(*tasks.values())
    assert shared == (2, 2)
    assert len(set(seen["a"]) | set(seen["b"])) == 80
    assert len(seen["a"]) + len(seen["b"]) == 80  # nothing applied twice after a clean leave
    print(f"shared={shared} a={len(seen['a'])} b={len(seen['b'])}")
