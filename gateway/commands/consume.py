"""`hookgate consume`: a Kafka consumer-group worker that applies events to the store.

With `--stats-file`, the worker keeps a small JSON file up to date with what it has
done (events handled, applied, duplicates, commits) and the partitions it owns, so
an operator or a test can see how a group shares its partitions.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

from consumers.apply import Applier, ApplyResult
from consumers.kafka_runner import KafkaRunner, KafkaRunnerConfig, run_until_signalled
from consumers.metrics import LagConfig, polling
from consumers.registry import HandlerRegistry
from gateway.bus.topics import ensure_hookgate_topics
from gateway.commands import CommandError
from gateway.runtime.metrics_server import serve_metrics
from gateway.runtime.stack import appointment_changes, open_consumer_stack
from gateway.runtime.tuning import tune_gc
from gateway.settings import Settings
from gateway.store.engine import create_engine
from gateway.tasks import running
from schemas import CloudEvent
from schemas.google import APPOINTMENTS_TOPIC

DEFAULT_GROUP_SUFFIX = "store"
STATS_INTERVAL_SECONDS = 0.2


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "consume",
        help="apply events from Kafka to the store (a consumer-group worker)",
        description="Join a Kafka consumer group on the {prefix}.{provider} topics and apply "
        "each batch to HOOKGATE_DATABASE_URL, committing offsets only after the store "
        "committed. Events that keep failing go to {prefix}.dlq. SIGTERM finishes the "
        "batch in hand, commits it and leaves the group. Run several to share partitions.",
    )
    parser.add_argument("--group", help="consumer group id (default: {prefix}.store)")
    parser.add_argument(
        "--provider",
        action="append",
        dest="providers",
        help="consume only this provider's topic (repeatable; default: every provider "
        "the store has handlers for)",
    )
    parser.add_argument("--max-batch", type=int, default=500, help="events per batch")
    parser.add_argument(
        "--max-retries", type=int, default=3, help="retries before an event goes to the DLQ"
    )
    parser.add_argument(
        "--session-timeout-ms", type=int, default=10_000, help="group session timeout"
    )
    parser.add_argument(
        "--stats-file",
        type=Path,
        help="keep this JSON file up to date with the worker's counts and partitions",
    )
    parser.set_defaults(run=run)


def handled_providers(registry: HandlerRegistry) -> list[str]:
    """Providers whose events the registry handles (`{provider}.{resource}.{action}`)."""
    return sorted({event_type.split(".", 1)[0] for event_type in registry.event_types})


def runner_config(
    settings: Settings, args: argparse.Namespace, providers: list[str]
) -> KafkaRunnerConfig:
    if not settings.kafka_bootstrap_servers:
        raise CommandError(
            "HOOKGATE_KAFKA_BOOTSTRAP_SERVERS is not set; without Kafka the consumers run "
            "inside `hookgate serve` on the local spool."
        )
    return KafkaRunnerConfig(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        topics=tuple(settings.topic(provider) for provider in providers),
        group_id=args.group or f"{settings.topic_prefix}.{DEFAULT_GROUP_SUFFIX}",
        dlq_topic=settings.dlq_topic,
        max_batch=args.max_batch,
        max_retries=args.max_retries,
        session_timeout_ms=args.session_timeout_ms,
        heartbeat_interval_ms=max(100, args.session_timeout_ms // 5),
    )


CONSUMER_GC_GEN0_THRESHOLD = 100_000
"""Allocations between young collections in a consumer (the gateway's is 20,000).

A batch in hand and the next one being prepared keep tens of thousands of objects
alive; at 20,000 nearly every young collection walked a live batch (about 4 ms each,
2-3 µs per event applied). At 100,000 most of a batch's objects are freed by their
reference counts before a collection sees them: the apply bench ran 100,000 events
without one, at 25 against 26-30 µs of consumer CPU per event."""


async def run(args: argparse.Namespace, settings: Settings) -> int:
    engine = create_engine(settings)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(engine.dispose)
        publish_changes = await stack.enter_async_context(appointment_changes(settings))
        consumers = await stack.enter_async_context(
            open_consumer_stack(settings, engine, publish_changes=publish_changes)
        )
        providers = args.providers or handled_providers(consumers.registry)
        config = runner_config(settings, args, providers)
        await ensure_hookgate_topics(settings, [*providers, APPOINTMENTS_TOPIC])
        applied = AppliedCounts(consumers.applier)
        runner = KafkaRunner(
            config,
            consumers.metrics.instrument(applied.apply),
            prepare=consumers.applier.prepare,
        )
        await consumers.start()
        if settings.metrics_port is not None:
            await stack.enter_async_context(
                serve_metrics(
                    consumers.metrics.registry, host=settings.host, port=settings.metrics_port
                )
            )
        lag = LagConfig(
            config.bootstrap_servers,
            config.group_id,
            config.topics,
            config.dlq_topic,
            f"{settings.topic_prefix}.replay",
        )
        await stack.enter_async_context(
            polling(consumers.metrics, engine=engine, lag=lag, runner_stats=runner.stats)
        )
        await stack.enter_async_context(
            running(consumers.upkeep(), name="hookgate-consumer-upkeep")
        )
        if args.stats_file is not None:
            await stack.enter_async_context(keep_stats(args.stats_file, runner, applied))
        tune_gc(CONSUMER_GC_GEN0_THRESHOLD)
        await run_until_signalled(runner, signal.SIGTERM, signal.SIGINT)
    return 0


@dataclass
class AppliedCounts:
    """Counts what the applier did with the events this worker handed it."""

    applier: Applier
    applied: int = 0
    duplicates: int = 0

    async def apply(self, events: Sequence[CloudEvent]) -> ApplyResult:
        result = await self.applier.apply(events)
        self.applied += result.applied
        self.duplicates += result.duplicates
        return result


def stats_snapshot(runner: KafkaRunner, counts: AppliedCounts) -> dict[str, object]:
    stats = runner.stats
    return {
        "pid": os.getpid(),
        "group": runner.config.group_id,
        "partitions": sorted(f"{tp.topic}[{tp.partition}]" for tp in runner.assignment),
        "events": stats.events,
        "applied": counts.applied,
        "duplicates": counts.duplicates,
        "batches": stats.batches,
        "commits": stats.commits,
        "assignments": stats.assignments,
        "dead_letters": stats.dead_letters,
    }


def write_stats(path: Path, snapshot: dict[str, object]) -> None:
    """Replace `path` atomically, so a reader never sees half a file."""
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(orjson.dumps(snapshot))
    partial.replace(path)


@contextlib.asynccontextmanager
async def keep_stats(path: Path, runner: KafkaRunner, counts: AppliedCounts) -> AsyncIterator[None]:
    """Write the stats file every `STATS_INTERVAL_SECONDS` while running, and once at the end."""

    async def refresh() -> None:
        while True:
            await asyncio.to_thread(write_stats, path, stats_snapshot(runner, counts))
            await asyncio.sleep(STATS_INTERVAL_SECONDS)

    try:
        async with running(refresh(), name="hookgate-consume-stats"):
            yield
    finally:
        await asyncio.to_thread(write_stats, path, stats_snapshot(runner, counts))
