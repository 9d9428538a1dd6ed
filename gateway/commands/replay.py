"""`hookgate replay`: re-drive the dead letters, on `{prefix}.dlq` or in the store.

With Kafka the dead letters are on `{prefix}.dlq` (`consumers.dlq.replay`); on the
embedded default they are in the store's `dead_letters` table
(`consumers.dead_letter_table`). Either way they are applied with the handlers
`serve` and `consume` run, Google's sync included (`consumers.stack.ConsumerStack`),
and the command waits (a bounded time) for the Google syncs they asked for.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging

from consumers.dead_letter_table import DeadLetterTable, ParkedLetter
from consumers.dlq import ON_FAILURE, ReplayConfig, ReplayReport, replay
from consumers.google.wiring import GoogleSync
from gateway.commands import CommandError, audit
from gateway.runtime.stack import open_consumer_stack
from gateway.settings import Settings
from gateway.store.audit import OK
from gateway.store.engine import create_engine

log = logging.getLogger("hookgate.replay")

GOOGLE_SYNC_WAIT_SECONDS = 120.0
"""How long replay waits for the Google syncs its events asked for; a sync still
owed then is resumed by the next `serve` or `consume` (it is recorded in the store)."""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="re-drive dead letters (once their cause is fixed)",
        description="Apply the dead letters to the store again. On the embedded default "
        "(no Kafka) they are the store's dead_letters rows not replayed yet: each one "
        "applied is marked replayed; one that still fails stays with its new error, and "
        "the replay goes on. With Kafka, read {prefix}.dlq from where the last replay "
        "stopped (or from the beginning) up to its current end, and apply each event "
        "again, or re-publish it to its original topic; an event that still fails stops "
        "the replay there unless --on-failure says otherwise. Exit status 1 if any failed.",
    )
    parser.add_argument(
        "--list",
        action="store_true",
        help="list the dead letters waiting for a replay (embedded default; no payloads)",
    )
    parser.add_argument(
        "--on-failure",
        choices=ON_FAILURE,
        default="stop",
        help="Kafka: on an event that fails again, stop there (default; the next replay "
        "starts with it), skip it, or park it again at the end of the DLQ",
    )
    parser.add_argument(
        "--from-beginning", action="store_true", help="Kafka: start at the DLQ's first record"
    )
    parser.add_argument(
        "--republish",
        action="store_true",
        help="Kafka: send each event back to its original topic instead of applying it here",
    )
    parser.add_argument(
        "--group", help="Kafka: the replay's consumer group (default: {prefix}.replay)"
    )
    parser.set_defaults(run=run)


async def run(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.kafka_bootstrap_servers:
        if args.republish:
            raise CommandError(
                "HOOKGATE_KAFKA_BOOTSTRAP_SERVERS is not set; there is no topic to "
                "re-publish to (without --republish the dead letters are applied here)."
            )
        return await _embedded(args, settings)
    if args.list:
        raise CommandError(
            "--list shows the embedded default's dead letters; with Kafka they are on "
            f"{settings.dlq_topic} (see hookgate_dlq_events)."
        )
    config = ReplayConfig(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        dlq_topic=settings.dlq_topic,
        group_id=args.group or f"{settings.topic_prefix}.replay",
        from_beginning=args.from_beginning,
        on_failure=args.on_failure,
    )
    if args.republish:
        report = await replay(config, republish=True)
    else:
        engine = create_engine(settings)
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(engine.dispose)
            consumers = await stack.enter_async_context(open_consumer_stack(settings, engine))
            report = await replay(config, apply=consumers.apply)
            await _google_settled(consumers.google)
    await _audited(settings, report)
    print(summary(report, stops=args.on_failure == "stop"))
    return 1 if report.failed else 0


async def _embedded(args: argparse.Namespace, settings: Settings) -> int:
    engine = create_engine(settings)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(engine.dispose)
        table = DeadLetterTable(engine)
        if args.list:
            letters = await table.waiting()
            for letter in letters:
                print(listed(letter))
            print(f"hookgate replay: {len(letters)} dead letter(s) waiting")
            return 0
        consumers = await stack.enter_async_context(open_consumer_stack(settings, engine))
        report = await table.replay(consumers.apply)
        await _google_settled(consumers.google)
    await _audited(settings, report)
    print(summary(report, stops=False))
    return 1 if report.failed else 0


async def _audited(settings: Settings, report: ReplayReport) -> None:
    await audit.record(
        settings,
        "dead_letters.replay",
        outcome="replay_failed" if report.failed else OK,
        detail={"replayed": report.replayed, "failed": report.failed},
    )


async def _google_settled(google: GoogleSync) -> None:
    """Wait for the syncs the replayed events asked for (bounded: see the constant)."""
    try:
        async with asyncio.timeout(GOOGLE_SYNC_WAIT_SECONDS):
            await google.scheduler.wait_idle()
    except TimeoutError:
        log.warning("Google syncs still running; the next serve or consume resumes them.")


def listed(letter: ParkedLetter) -> str:
    """One dead letter on one line: where it was, what it was, why it failed."""
    return (
        f"{letter.id}\t{letter.failed_at.isoformat()}\t{letter.topic}@{letter.offset}\t"
        f"{letter.event_type or '-'}\t{letter.event_id or '-'}\tattempts={letter.attempts}\t"
        f"{letter.error_class}: {letter.error}"
    )


def summary(report: ReplayReport, *, stops: bool = True) -> str:
    """One line; `stops`: a failure stopped the replay (else it went on past it)."""
    line = f"hookgate replay: {report.replayed} replayed, {report.failed} failed"
    if report.parked:
        line += f" ({report.parked} parked again at the end of the DLQ)"
    if report.skipped_undecodable:
        line += f", {report.skipped_undecodable} skipped (not CloudEvents)"
    if report.errors:
        where = "stopped at" if stops else "first error"
        line += f"; {where}: {report.errors[0]}"
    return line
