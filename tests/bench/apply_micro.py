"""`python -m tests.bench.apply_micro [--events N] [--rounds N] [--profile]`: the consumer's
CPU per event before it writes, in-process.

The apply section's mixed stream, as the Kafka records a consumer fetches, taken through
what the Kafka runner does with a batch before the store sees it: every record decoded
into a CloudEvent (`CloudEvent.from_kafka`), then the batch prepared (`Applier.prepare`:
deduped, routed, each event's data parsed with the lean model and its rows and ledger
rows built). No broker and no database (the applier's engine only names the
PostgreSQL dialect, and never connects), with the collector set as `hookgate consume`
sets it (`tests.bench.apply.collected_as_in_a_consumer`, undone afterwards). What remains
is the consumer's own Python per event, which moves far less with the machine's load
than the apply section's rate; each round goes through the whole stream, and the figures
are the median round's.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median
from typing import NamedTuple

import uvloop
from sqlalchemy.ext.asyncio import create_async_engine

from consumers.apply import Applier, _Failed
from consumers.providers import build_registry
from schemas import BusRecord, CloudEvent
from tests.bench.apply import collected_as_in_a_consumer, mixed_stream

BATCH = 2_000
"""Events per batch: the apply section's `--max-batch`."""


class FetchedRecord(NamedTuple):
    """What `CloudEvent.from_kafka` reads of an aiokafka `ConsumerRecord`."""

    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


@dataclass(frozen=True)
class ApplyMicroFigures:
    events: int
    decode_us: float
    """CPU per event to make the CloudEvent from its record."""
    prepare_us: float
    """CPU per event to prepare the batches (`Applier.prepare`)."""
    failed: int
    """Events whose preparation raised (none in this stream; counted to be sure)."""

    @property
    def total_us(self) -> float:
        return self.decode_us + self.prepare_us


def fetched_records(count: int) -> list[FetchedRecord]:
    records = []
    for event in mixed_stream(count):
        bus = BusRecord.from_event(event, f"bench.{event.provider}")
        records.append(FetchedRecord(bus.key, bus.value, list(bus.headers)))
    return records


async def measure(
    count: int, *, rounds: int = 5, batch: int = BATCH, profile: bool = False
) -> ApplyMicroFigures:
    records = fetched_records(count)
    engine = create_async_engine("postgresql+asyncpg://bench@127.0.0.1/bench")
    applier = Applier(engine, build_registry())
    profiler = cProfile.Profile() if profile else None
    decode_rounds: list[float] = []
    prepare_rounds: list[float] = []
    failed = 0
    try:
        with collected_as_in_a_consumer():
            for _ in range(rounds):
                decode = prepare = 0.0
                failed = 0
                if profiler is not None:
                    profiler.enable()
                for start in range(0, count, batch):
                    began = time.process_time()
                    events = [
                        CloudEvent.from_kafka(record.headers, record.key, record.value)
                        for record in records[start : start + batch]
                    ]
                    decoded = time.process_time()
                    prepared = await applier.prepare(events)
                    decode += decoded - began
                    prepare += time.process_time() - decoded
                    plan = prepared.take(applier)
                    groups = plan.prepared if plan is not None and plan.prepared is not None else []
                    failed += sum(
                        isinstance(item, _Failed) for items in groups if items for item in items
                    )
                if profiler is not None:
                    profiler.disable()
                decode_rounds.append(decode)
                prepare_rounds.append(prepare)
    finally:
        await engine.dispose()
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
    return ApplyMicroFigures(
        events=count,
        decode_us=median(decode_rounds) / count * 1e6,
        prepare_us=median(prepare_rounds) / count * 1e6,
        failed=failed,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.apply_micro", description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    figures = uvloop.run(measure(args.events, rounds=args.rounds, profile=args.profile))
    print(
        f"decode {figures.decode_us:.1f} us + prepare {figures.prepare_us:.1f} us = "
        f"{figures.total_us:.1f} us of CPU per event ({args.events:,} events in batches of "
        f"{BATCH:,}, median of {args.rounds} rounds, in-process)"
    )
    if figures.failed:
        print(f"{figures.failed} event(s) failed to prepare: the figures are not the usual path")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
