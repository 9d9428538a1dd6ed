"""Dead letters: events a handler kept failing on, parked on `{prefix}.dlq`, and replay.

A dead letter is the original record plus `hookgate_dlq_*` headers
(`schemas.deadletter`: where it came from, the attempts, the error's class and first
line). The error text never carries the payload: validation errors are summarized by
location and type, database errors by their driver's first line, without the
statement's parameters.

`replay` reads the DLQ (from the replay group's committed position, or from the
beginning), re-applies each event (or re-publishes it to its original topic), and
commits as it goes. An event that still fails stops the replay there (`on_failure`
`stop`, the default: nothing is passed over unless asked), is passed over
(`skip`: it stays on the DLQ, behind the replay group's position), or is parked
again at the DLQ's end with one more attempt and its new error (`park`: the next
replay meets it again); with `skip` and `park` the replay goes on with the next.
A transient error (`is_transient`: the store unreachable) always stops it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, StatementError

from schemas import CloudEvent
from schemas.deadletter import DeadLetter, original_headers, original_topic

log = logging.getLogger(__name__)

Apply = Callable[[Sequence[CloudEvent]], Awaitable[object]]

MAX_ERROR_CHARS = 300


def describe_error(exc: BaseException) -> tuple[str, str]:
    """The error's class and one line about it, with no payload or parameters in it."""
    if isinstance(exc, ValidationError):
        places = sorted(
            {".".join(str(part) for part in e["loc"]) or "(root)" for e in exc.errors()}
        )
        kinds = sorted({e["type"] for e in exc.errors()})
        message = (
            f"{exc.error_count()} validation error(s) at {', '.join(places)} ({', '.join(kinds)})"
        )
        return "ValidationError", message[:MAX_ERROR_CHARS]
    if isinstance(exc, StatementError) and exc.orig is not None:
        cause = exc.orig
        return f"{type(exc).__name__}({type(cause).__name__})", _first_line(cause)
    return type(exc).__name__, _first_line(exc)


def is_transient(exc: BaseException) -> bool:
    """Errors that say "not now" (the store or the network), not "never"."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, DBAPIError) and isinstance(
        exc.orig.__cause__ if exc.orig else None, ValueError
    ):
        return False  # asyncpg's DataError (an InterfaceError): a value it cannot send, ever
    return isinstance(exc, OperationalError | InterfaceError | OSError | TimeoutError)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else "")[:MAX_ERROR_CHARS]


class DeadLetterProducer:
    """Sends dead letters to the DLQ topic with acks=all; `send` returns once durable."""

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        *,
        client_id: str = "hookgate-dlq",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.topic = topic
        self.sent = 0
        self._clock = clock
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers, client_id=client_id, acks="all"
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def send(self, letters: Sequence[DeadLetter]) -> None:
        now = self._clock()
        futures = [
            await self._producer.send(
                self.topic, key=letter.key, value=letter.value, headers=letter.kafka_headers(now)
            )
            for letter in letters
        ]
        await asyncio.gather(*futures)
        self.sent += len(letters)


OnFailure = Literal["stop", "skip", "park"]
ON_FAILURE: tuple[OnFailure, ...] = ("stop", "skip", "park")


@dataclass(frozen=True)
class ReplayConfig:
    bootstrap_servers: str
    dlq_topic: str
    group_id: str
    """The replay's own consumer group: its committed offsets are the stored position."""
    from_beginning: bool = False
    batch_size: int = 200
    on_failure: OnFailure = "stop"


@dataclass
class ReplayReport:
    replayed: int = 0
    failed: int = 0
    """Events that failed again (stopped at, skipped or parked again)."""
    skipped_undecodable: int = 0
    parked: int = 0
    """Of `failed`, those parked again at the end of the DLQ."""
    errors: list[str] = field(default_factory=list)


async def replay(
    config: ReplayConfig,
    *,
    apply: Apply | None = None,
    republish: bool = False,
) -> ReplayReport:
    """Re-drive the DLQ up to its current end: re-apply each event, or re-publish it."""
    if (apply is None) == (not republish):
        raise ValueError("replay either applies (apply=...) or re-publishes (republish=True)")
    report = ReplayReport()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=config.bootstrap_servers,
        group_id=config.group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    producer = (
        AIOKafkaProducer(bootstrap_servers=config.bootstrap_servers, acks="all")
        if republish or config.on_failure == "park"
        else None
    )
    await consumer.start()
    if producer is not None:
        await producer.start()
    try:
        partitions = [
            TopicPartition(config.dlq_topic, p)
            for p in sorted(await _partitions(consumer, config.dlq_topic))
        ]
        consumer.assign(partitions)
        if config.from_beginning:
            await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        for tp in partitions:
            while await consumer.position(tp) < ends[tp]:
                records = (
                    await consumer.getmany(tp, timeout_ms=1000, max_records=config.batch_size)
                ).get(tp, [])
                done = await _replay_records(records, apply, producer, report, config)
                if done is not None:
                    await consumer.commit({tp: done + 1})
                if done is None or (records and done < records[-1].offset):
                    break
    finally:
        await consumer.stop()
        if producer is not None:
            await producer.stop()
    return report


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    partitions: set[int] | None = consumer.partitions_for_topic(topic)
    if not partitions:
        await consumer.topics()  # refreshes the metadata
        partitions = consumer.partitions_for_topic(topic)
    return partitions or set()


async def _replay_records(
    records: Sequence[Any],
    apply: Apply | None,
    producer: AIOKafkaProducer | None,
    report: ReplayReport,
    config: ReplayConfig,
) -> int | None:
    """Replay in order; return the offset of the last record done (None if none was)."""
    last_done: int | None = None
    for record in records:
        try:
            if apply is None and producer is not None:
                await _republish(producer, record)
            elif apply is not None and not await _reapply(apply, record):
                report.skipped_undecodable += 1
                last_done = record.offset
                continue
        except Exception as exc:  # noqa: BLE001 - reported; stopped, skipped or parked
            error_class, message = describe_error(exc)
            report.failed += 1
            report.errors.append(f"{error_class} {message}")
            stop = config.on_failure == "stop" or (config.on_failure == "park" and producer is None)
            if stop or is_transient(exc):  # the store or network down: not this event's fault
                log.warning("Replaying a dead letter failed (%s); stopping here.", error_class)
                return last_done
            if config.on_failure == "park" and producer is not None:
                await _park_again(producer, config.dlq_topic, record, exc)
                report.parked += 1
            log.warning(
                "Replaying a dead letter failed (%s); %s.",
                error_class,
                "parked it again" if config.on_failure == "park" else "skipped it",
            )
            last_done = record.offset
            continue
        report.replayed += 1
        last_done = record.offset
    return last_done


async def _park_again(
    producer: AIOKafkaProducer, dlq_topic: str, record: Any, exc: BaseException
) -> None:
    """Send `record` (a dead letter) to the end of the DLQ: one attempt more, its new error."""
    letter = DeadLetter.failed_again(record.key, record.value, record.headers, *describe_error(exc))
    await producer.send_and_wait(
        dlq_topic,
        key=letter.key,
        value=letter.value,
        headers=letter.kafka_headers(datetime.now(UTC)),
    )


async def _republish(producer: AIOKafkaProducer, record: Any) -> None:
    await producer.send_and_wait(
        original_topic(record.headers),
        key=record.key,
        value=record.value,
        headers=original_headers(record.headers),
    )


async def _reapply(apply: Apply, record: Any) -> bool:
    """Apply the dead letter's event; False when it is not a CloudEvent at all."""
    try:
        event = CloudEvent.from_kafka(record.headers, record.key, record.value)
    except (KeyError, ValueError):
        return False
    await apply([event])
    return True
