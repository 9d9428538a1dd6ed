"""`hookgate consume`: a Kafka consumer-group worker that applies events to the store."""

from __future__ import annotations

import argparse
import signal

from sqlalchemy.ext.asyncio import create_async_engine

from consumers.apply import Applier
from consumers.handlers import build_registry
from consumers.kafka_runner import KafkaRunner, KafkaRunnerConfig, run_until_signalled
from consumers.registry import HandlerRegistry
from gateway.commands import CommandError
from gateway.settings import Settings
from gateway.topics import ensure_hookgate_topics

DEFAULT_GROUP_SUFFIX = "store"


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


async def run(args: argparse.Namespace, settings: Settings) -> int:
    registry = build_registry()
    providers = args.providers or handled_providers(registry)
    config = runner_config(settings, args, providers)
    await ensure_hookgate_topics(settings, providers)
    engine = create_async_engine(settings.database_url)
    try:
        runner = KafkaRunner(config, Applier(engine, registry).apply)
        await run_until_signalled(runner, signal.SIGTERM, signal.SIGINT)
    finally:
        await engine.dispose()
    return 0
