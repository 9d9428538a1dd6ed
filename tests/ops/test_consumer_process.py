"""The consumer process as `hookgate consume` wires it: runner, instrumented applier,
pollers and the /metrics listener, on a real broker and PostgreSQL. A scrape over HTTP
shows the events applied, their freshness, and the lag falling to zero."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import create_async_engine

from consumers.apply import Applier
from consumers.kafka_runner import KafkaRunner, KafkaRunnerConfig
from consumers.metrics import ConsumerMetrics, LagConfig, polling
from consumers.providers import build_registry
from gateway.runtime.metrics_server import serve_metrics
from tests.fixtures.kafka import create_topics
from tests.kafka.consuming import eventually, invitee_created, publish_events


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@contextlib.asynccontextmanager
async def running(runner: KafkaRunner) -> AsyncIterator[None]:
    task = asyncio.create_task(runner.run())
    try:
        yield
    finally:
        runner.stop()
        await asyncio.wait_for(task, 30)


async def test_a_scrape_of_the_consumer_shows_applied_events_and_no_lag(
    kafka_bootstrap: str, topic_prefix: str, postgres_url: str
) -> None:
    topic = f"{topic_prefix}.calendly"
    await create_topics(kafka_bootstrap, [topic, f"{topic_prefix}.dlq"], partitions=2)
    published = [invitee_created(n) for n in range(5)]
    await publish_events(kafka_bootstrap, topic, published)
    before = datetime.now(UTC)

    handlers = build_registry()
    metrics = ConsumerMetrics(CollectorRegistry(), event_types=handlers.event_types)
    engine = create_async_engine(postgres_url)
    config = KafkaRunnerConfig(
        bootstrap_servers=kafka_bootstrap,
        topics=(topic,),
        group_id=f"{topic_prefix}.store",
        dlq_topic=f"{topic_prefix}.dlq",
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )
    runner = KafkaRunner(
        config, metrics.instrument(Applier(engine, handlers, metrics=metrics).apply)
    )
    lag = LagConfig(
        kafka_bootstrap, config.group_id, config.topics, config.dlq_topic, f"{topic_prefix}.replay"
    )
    try:
        async with (
            serve_metrics(metrics.registry, host="127.0.0.1", port=0) as port,
            polling(
                metrics, engine=engine, lag=lag, runner_stats=runner.stats, interval_seconds=0.2
            ),
            running(runner),
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client,
        ):

            async def caught_up() -> bool:
                scraped = samples((await client.get("/metrics")).text)
                applied = scraped.get(
                    ("hookgate_events_applied_total", (("type", "calendly.invitee.created"),)), 0
                )
                lags = [
                    v for (name, _), v in scraped.items() if name == "hookgate_consumer_lag_events"
                ]
                return applied == 5 and len(lags) == 2 and sum(lags) == 0

            await eventually(caught_up, timeout=40, what="the scrape to show 5 applied, lag 0")
            scraped = samples((await client.get("/metrics")).text)
    finally:
        await engine.dispose()

    freshness = scraped[("hookgate_event_freshness_seconds_count", (("provider", "calendly"),))]
    assert freshness == 5
    assert scraped[("hookgate_apply_duration_seconds_count", ())] >= 1
    assert scraped[("hookgate_dlq_events", ())] == 0
    assert scraped[("hookgate_dlq_sent_total", ())] == 0
    lower_bound = sum((before - event.time).total_seconds() for event in published)
    total = scraped[("hookgate_event_freshness_seconds_sum", (("provider", "calendly"),))]
    assert total >= lower_bound
