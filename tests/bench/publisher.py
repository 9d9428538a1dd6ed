"""`python -m tests.bench.publisher [--seconds S] [--rounds N]`: the Kafka path alone, per record.

Starts a tansu broker and a topic of the bench's 6 partitions, then, in this process,
keeps 16, 32 and 64 callers each publishing one record at a time (a webhook
delivery's CloudEvent, headers included) through `KafkaPublisher.publish`, and, as the
reference, through raw aiokafka `send_and_wait` (acks=all, linger 0) with the same
records. The two take turns for `rounds` rounds. For each it prints records per
second, this process's CPU per record, the broker's CPU per record, and (for the
publisher) records per flush; figures are medians.

What it is for: the publisher's cost per record is a fixed cost per flush (a batch and
its future per partition, a produce request and its response) spread over the records
the flush holds. A gateway worker's flushes hold the deliveries that arrived during
the flush before, so with two workers sharing the same load each flush is about half
as full, and each delivery pays more; at the same callers' count this shows how much.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import uvloop
from aiokafka import AIOKafkaProducer

from gateway.bus.kafka_publisher import KafkaPublisher
from schemas import BusRecord
from tests.bench.cpu import service_cpu
from tests.bench.stack import TOPIC_PARTITIONS, broker_service
from tests.bench.table import Line, median, render
from tests.fixtures.kafka import create_topics, running_tansu
from tests.fixtures.processes import Service
from tests.store import events
from tests.store.events import at

CALLERS = (16, 32, 64)
RECORDS = 1_000

Publish = Callable[[BusRecord], Awaitable[None]]


@dataclass(frozen=True)
class Sample:
    rate: float
    client_us: float
    broker_us: float
    per_flush: float


def deliveries(topic: str, count: int = RECORDS) -> list[BusRecord]:
    """`count` Calendly bookings as the gateway publishes them, each about its own invitee."""
    return [
        BusRecord.from_event(
            events.calendly(
                "bench",
                "invitee.created",
                at(n / 1000),
                invitee_uri=f"https://api.calendly.com/scheduled_events/E{n}/invitees/I{n}",
            ),
            topic,
        )
        for n in range(count)
    ]


async def _drive(
    publish: Publish,
    records: Sequence[BusRecord],
    callers: int,
    seconds: float,
    broker: Service,
    flushes: Callable[[], int] = lambda: 0,
) -> Sample:
    done = 0
    stopping = False

    async def caller(first: int) -> None:
        nonlocal done
        index = first
        while not stopping:
            await publish(records[index % len(records)])
            done += 1
            index += callers

    tasks = [asyncio.create_task(caller(n)) for n in range(callers)]
    await asyncio.sleep(min(1.0, seconds / 2))  # warm-up
    cpu, brokers, started, count, flushed = (
        time.process_time(),
        service_cpu(broker),
        time.monotonic(),
        done,
        flushes(),
    )
    await asyncio.sleep(seconds)
    records_done = done - count
    sample = Sample(
        rate=records_done / (time.monotonic() - started),
        client_us=1e6 * (time.process_time() - cpu) / records_done,
        broker_us=1e6 * (service_cpu(broker) - brokers) / records_done,
        per_flush=records_done / max(flushes() - flushed, 1),
    )
    stopping = True
    await asyncio.gather(*tasks)
    return sample


async def measure(seconds: float, rounds: int, workdir: Path) -> list[Line]:
    async with running_tansu(workdir / "tansu.log") as started:
        broker, bootstrap = broker_service(started), started.bootstrap_servers
        topic = f"bench{uuid.uuid4().hex[:8]}.calendly"
        await create_topics(bootstrap, [topic], partitions=TOPIC_PARTITIONS)
        records = deliveries(topic)
        ours: dict[int, list[Sample]] = {n: [] for n in CALLERS}
        raw: dict[int, list[Sample]] = {n: [] for n in CALLERS}
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
        async with KafkaPublisher(bootstrap) as publisher:
            await publisher.start(wait_seconds=20)
            await producer.start()
            try:

                async def published(record: BusRecord) -> None:
                    await publisher.publish((record,))

                async def sent(record: BusRecord) -> None:
                    await producer.send_and_wait(
                        record.topic, record.value, key=record.key, headers=list(record.headers)
                    )

                def flushes() -> int:
                    return publisher.stats.flushes

                for _ in range(rounds):
                    for callers in CALLERS:
                        ours[callers].append(
                            await _drive(published, records, callers, seconds, broker, flushes)
                        )
                        raw[callers].append(await _drive(sent, records, callers, seconds, broker))
            finally:
                await producer.stop()
    return [line for callers in CALLERS for line in _lines(callers, ours[callers], raw[callers])]


def _lines(callers: int, ours: list[Sample], raw: list[Sample]) -> list[Line]:
    def mid(samples: list[Sample], field: str) -> float:
        return median([getattr(sample, field) for sample in samples])

    return [
        Line(
            f"Kafka path, {callers} callers: records/s",
            f"{mid(ours, 'rate'):,.0f} records/s ({mid(ours, 'per_flush'):.1f} per flush)",
            f"send_and_wait {mid(raw, 'rate'):,.0f} records/s",
            f"{mid(ours, 'rate') / mid(raw, 'rate'):.2f}x",
        ),
        Line(
            f"Kafka path, {callers} callers: CPU per record, client / broker",
            f"{mid(ours, 'client_us'):.1f} / {mid(ours, 'broker_us'):.1f} us",
            f"send_and_wait {mid(raw, 'client_us'):.1f} / {mid(raw, 'broker_us'):.1f} us",
        ),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.publisher", description=__doc__)
    parser.add_argument("--seconds", type=float, default=4.0, help="per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hookgate-bench-") as workdir:
        lines = uvloop.run(measure(args.seconds, args.rounds, Path(workdir)))
    print(render(lines))
    print(f"\n{os.cpu_count()} CPUs, {args.rounds} rounds of {args.seconds:g} s per figure")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
