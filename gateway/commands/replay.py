"""`hookgate replay`: re-drive the dead letters on `{prefix}.dlq`."""

from __future__ import annotations

import argparse

from consumers.apply import Applier
from consumers.dlq import ReplayConfig, ReplayReport, replay
from consumers.handlers import build_registry
from gateway.app import create_engine
from gateway.commands import CommandError
from gateway.settings import Settings


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="re-drive dead letters (once their cause is fixed)",
        description="Read {prefix}.dlq from where the last replay stopped (or from the "
        "beginning) up to its current end, and apply each event to the store again, or "
        "re-publish it to its original topic. An event that still fails stops the replay "
        "there; the next replay starts with it.",
    )
    parser.add_argument(
        "--from-beginning", action="store_true", help="start at the DLQ's first record"
    )
    parser.add_argument(
        "--republish",
        action="store_true",
        help="send each event back to its original topic instead of applying it here",
    )
    parser.add_argument("--group", help="the replay's consumer group (default: {prefix}.replay)")
    parser.set_defaults(run=run)


async def run(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.kafka_bootstrap_servers:
        raise CommandError(
            "HOOKGATE_KAFKA_BOOTSTRAP_SERVERS is not set; there is no DLQ to replay."
        )
    config = ReplayConfig(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        dlq_topic=settings.dlq_topic,
        group_id=args.group or f"{settings.topic_prefix}.replay",
        from_beginning=args.from_beginning,
    )
    if args.republish:
        report = await replay(config, republish=True)
    else:
        engine = create_engine(settings)
        try:
            report = await replay(config, apply=Applier(engine, build_registry()).apply)
        finally:
            await engine.dispose()
    print(summary(report))
    return 1 if report.failed else 0


def summary(report: ReplayReport) -> str:
    line = f"hookgate replay: {report.replayed} replayed, {report.failed} failed"
    if report.skipped_undecodable:
        line += f", {report.skipped_undecodable} skipped (not CloudEvents)"
    if report.errors:
        line += f"; stopped at: {report.errors[0]}"
    return line
