"""The relay: drains the store-and-forward spool into Kafka, oldest first.

It takes the oldest records in batches, publishes them (acks=all), and deletes only
what Kafka acknowledged; while Kafka is unreachable it backs off. Each gateway worker
has a spool file of its own (`gateway.bus.spool_slots`), so each file has one relay.
A batch whose acknowledgement timed out may still land in Kafka and is sent again:
records can reach Kafka twice (consumers dedupe by `ce_id`), never out of order.

A worker's relay also drains orphans: the spool files of workers that no longer run
(the worker count was lowered). At start (after `orphan_first_scan_seconds`) and every
`orphan_scan_seconds` it takes the lock of each other slot file it finds free and
relays the records in it the same way, before its own.

A record Kafka refuses for good (too large, an illegal topic name, corrupt) must not
hold the spool up forever. The relay sends it to the DLQ (`{prefix}.dlq`, the
record's key, value and headers plus `hookgate_dlq_*` headers naming the error), or,
when the DLQ refuses it too (a record too large for any topic), sets it aside in a
file beside the spool (`{spool}.set-aside.jsonl`, one JSON object per line, synced);
then it moves on to the next record. Both are logged and counted. Some refusals are
caught here before sending, because aiokafka never reports them: it retries the
metadata of an illegal topic name forever. Transient failures are never dead-lettered.

Whatever else goes wrong (a bug, a spool read that fails in a way nobody foresaw)
must not stop the relay for good, or the spool would stop draining while the gateway
keeps spooling: its loop runs `supervised`, restarted after a bounded back-off, and
each restart is logged and counted (`RelayStats.restarts`).

The relay also keeps the `Backlog`: whether the spool may hold records, so that the
`DurablePublisher` sends new records behind them instead of overtaking them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import re
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import orjson
from aiokafka.errors import (
    CorruptRecordException,
    InvalidTimestampError,
    InvalidTopicError,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
    UnsupportedForMessageFormatError,
)

from gateway.bus.lifecycle import StartStop
from gateway.bus.publish import Publisher, PublishUnavailable
from gateway.tasks import supervised
from schemas import BusRecord
from schemas.deadletter import DeadLetter

log = logging.getLogger(__name__)

PERMANENT_ERRORS: tuple[type[KafkaError], ...] = (
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
    InvalidTopicError,
    CorruptRecordException,
    InvalidTimestampError,
    UnsupportedForMessageFormatError,
)
"""Refusals of the record itself: sending it again can never succeed. Errors about
the cluster (authorization, availability) are not here: they are fixed, then retried."""

MAX_TOPIC_NAME = 249
_LEGAL_TOPIC = re.compile(r"[a-zA-Z0-9._-]+")


@dataclass(frozen=True)
class Refusal:
    """Why a record can never be published: the error's class and one sentence."""

    error_class: str
    error: str


def permanent_refusal(exc: BaseException) -> Refusal | None:
    """The refusal behind a publish failure, if Kafka refused the record for good."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, PERMANENT_ERRORS):
            return Refusal(type(cause).__name__, _first_line(cause))
        if cause.__cause__ is not None or cause.__suppress_context__:
            cause = cause.__cause__
        else:
            cause = cause.__context__
    return None


def topic_refusal(topic: str) -> Refusal | None:
    """Kafka's rules for topic names (aiokafka does not report breaking them)."""
    if topic in ("", ".", "..") or len(topic) > MAX_TOPIC_NAME or not _LEGAL_TOPIC.fullmatch(topic):
        return Refusal(
            InvalidTopicError.__name__,
            f"{topic[:60]!r} is not a legal Kafka topic name (at most {MAX_TOPIC_NAME} "
            "of ASCII letters, digits, '.', '_' and '-').",
        )
    return None


def record_size(record: BusRecord) -> int:
    """Key, value and headers: what counts against the broker's message size limit."""
    headers = sum(len(name) + len(value) for name, value in record.headers)
    return len(record.key) + len(record.value) + headers


def dlq_topic_for(topic: str) -> str | None:
    """`{prefix}.dlq` for a topic `{prefix}.{provider}`; None when it has no prefix."""
    prefix, dot, _ = topic.rpartition(".")
    return f"{prefix}.dlq" if dot and prefix else None


def dead_letter(record: BusRecord, refusal: Refusal, topic: str, failed_at: datetime) -> BusRecord:
    """The record as a dead letter on `topic` (`schemas.deadletter`, so `hookgate replay`
    re-drives it too), with where it was going and why it did not."""
    letter = DeadLetter(
        topic=record.topic,
        partition=None,
        offset=None,
        key=record.key,
        value=record.value,
        headers=record.headers,
        group="hookgate-relay",
        attempts=1,
        error_class=refusal.error_class,
        error=refusal.error,
    )
    return BusRecord(
        topic=topic,
        key=record.key,
        value=record.value,
        headers=tuple(letter.kafka_headers(failed_at)),
        event_id=record.event_id,
    )


class SetAsideFile:
    """Records neither their topic nor the DLQ would take, one JSON line each, synced.

    Each line holds the record whole (key, value and headers in base64), its spool
    offset, and the refusals, so an operator can inspect or re-send it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    async def add(self, offset: int, record: BusRecord, refusals: list[Refusal]) -> None:
        line = orjson.dumps(
            {
                "spool_offset": offset,
                "set_aside_at": datetime.now(UTC).isoformat(),
                "topic": record.topic,
                "event_id": record.event_id,
                "key": _b64(record.key),
                "value": _b64(record.value),
                "headers": [[name, _b64(value)] for name, value in record.headers],
                "refusals": [{"error_class": r.error_class, "error": r.error} for r in refusals],
            }
        )
        try:
            await asyncio.to_thread(self._append, line + b"\n")
        except OSError as exc:
            raise PublishUnavailable(
                f"The record could not be set aside in {self.path} ({type(exc).__name__})."
            ) from exc

    def _append(self, line: bytes) -> None:
        with self.path.open("ab") as file:
            file.write(line)
            file.flush()
            os.fsync(file.fileno())

    def read(self) -> list[dict[str, Any]]:
        """Every record set aside so far (for operators and tests)."""
        if not self.path.exists():
            return []
        return [orjson.loads(line) for line in self.path.read_bytes().splitlines() if line]


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


class RelaySpool(Protocol):
    """What the relay needs of `gateway.bus.spool.Spool`."""

    path: Path

    async def pending(self, limit: int) -> list[tuple[int, BusRecord]]: ...
    async def delete(self, offsets: list[int]) -> int: ...
    async def depth(self) -> int: ...
    async def oldest_age_seconds(self, now: float | None = None) -> float | None: ...


class Orphans(Protocol):
    """Where the relay finds spools no running worker relays (`gateway.bus.spool_slots`)."""

    def orphans(self) -> AsyncGenerator[RelaySpool, None]:
        """Each orphan spool, held for this relay until it asks for the next one."""
        ...


class Backlog:
    """Whether the spool may hold records that new ones must not overtake.

    Set as soon as an append starts, or while the relay drains an orphan spool;
    cleared only when the relay saw an empty spool and no append started or was
    running meanwhile. (Each worker process appends to a spool file of its own.)
    """

    def __init__(self) -> None:
        self.present = False
        self._started = 0
        self._running = 0

    def append_started(self) -> None:
        self.present = True
        self._started += 1
        self._running += 1

    def append_finished(self) -> None:
        self._running -= 1

    def token(self) -> int:
        """Take before reading the spool's depth; hand to `observed` with the depth."""
        return self._started

    def observed(self, depth: int, token: int) -> None:
        if depth > 0:
            self.present = True
        elif token == self._started and self._running == 0:
            self.present = False


@dataclass
class RelayStats:
    """Counters for tests and metrics."""

    relayed_records: int = 0
    batches: int = 0
    failed_attempts: int = 0
    dead_lettered: int = 0
    """Records Kafka refused for good, sent to the DLQ instead."""
    set_aside: int = 0
    """Records the DLQ refused too, written to the set-aside file instead."""
    orphans_drained: int = 0
    """Orphan spools (of workers no longer running) this relay found records in and drained."""
    restarts: int = 0
    """Times the relay's loop ended on an unexpected error and was started again."""
    last_error: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class RelayStatus:
    """For readiness and metrics."""

    depth: int
    oldest_age_seconds: float | None
    kafka_ready: bool


class Relay(StartStop):
    """Use as `async with Relay(spool, kafka):`, or `start()` / `stop()`."""

    def __init__(
        self,
        spool: RelaySpool,
        kafka: Publisher,
        *,
        batch_size: int = 500,
        idle_poll_seconds: float = 0.5,
        initial_backoff_seconds: float = 0.2,
        max_backoff_seconds: float = 5.0,
        max_record_bytes: int | None = None,
        dlq_topic: Callable[[str], str | None] = dlq_topic_for,
        set_aside: SetAsideFile | None = None,
        orphans: Orphans | None = None,
        orphan_first_scan_seconds: float = 2.0,
        orphan_scan_seconds: float = 10.0,
        restart_backoff_seconds: float = 1.0,
        max_restart_backoff_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`max_record_bytes`: refuse larger records without sending them (set it to the
        broker's `message.max.bytes`; None leaves the decision to the broker).
        `dlq_topic` names the DLQ for a record's topic (None: no DLQ, set it aside).
        `orphans`: where to look for other workers' orphan spools (None: never look).
        The first look waits `orphan_first_scan_seconds`, so that workers starting
        together have claimed their slots (a slot this relay is looking into is taken
        by a starting worker only once the relay lets it go).
        After a crash the loop starts again in `restart_backoff_seconds`, doubled at
        each crash in a row up to `max_restart_backoff_seconds`."""
        self.spool = spool
        self.kafka = kafka
        self.set_aside = set_aside or set_aside_file_for(spool)
        self._max_record_bytes = max_record_bytes
        self._dlq_topic = dlq_topic
        self.backlog = Backlog()
        self.stats = RelayStats()
        self.depth = 0
        """The spool's depth at the relay's last look."""
        self._batch_size = batch_size
        self._idle_poll = idle_poll_seconds
        self._initial_backoff = initial_backoff_seconds
        self._max_backoff = max_backoff_seconds
        self._orphans = orphans
        self._orphan_scan = orphan_scan_seconds
        self._restart_backoff = restart_backoff_seconds
        self._max_restart_backoff = max_restart_backoff_seconds
        self._clock = clock
        self._next_orphan_scan = clock() + orphan_first_scan_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.look()
        if self._task is None:
            loop = supervised(
                self._run,
                what="The relay",
                on_crash=self._crashed,
                initial_backoff_seconds=self._restart_backoff,
                max_backoff_seconds=self._max_restart_backoff,
            )
            self._task = asyncio.create_task(loop, name="hookgate-relay")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def wake(self) -> None:
        """Look at the spool now rather than at the next poll."""
        self._wake.set()

    async def status(self) -> RelayStatus:
        return RelayStatus(
            depth=await self.spool.depth(),
            oldest_age_seconds=await self.spool.oldest_age_seconds(),
            kafka_ready=await self.kafka.ready(),
        )

    async def look(self) -> int:
        """Read the spool's depth and update the backlog."""
        token = self.backlog.token()
        self.depth = await self.spool.depth()
        self.backlog.observed(self.depth, token)
        return self.depth

    async def relay_once(self) -> int:
        """Publish the oldest batch and delete it; return how many records were relayed.

        Raises `PublishUnavailable` when Kafka (or the spool) did not take them.
        """
        return await self._relay_batch(self.spool, self.set_aside)

    async def drain_orphans(self) -> int:
        """Relay everything in the orphan spools found now; return how many records.

        Raises `PublishUnavailable` when Kafka (or a spool) did not take them; the
        orphan in hand is let go, and looked at again at the next scan.
        """
        if self._orphans is None:
            return 0
        relayed = 0
        async with contextlib.aclosing(self._orphans.orphans()) as orphans:
            async for orphan in orphans:
                relayed += await self._drain_orphan(orphan)
        return relayed

    async def _drain_orphan(self, orphan: RelaySpool) -> int:
        token = self.backlog.token()
        depth = await orphan.depth()
        if not depth:
            return 0
        # Records of this worker wait behind the orphan's (they are newer).
        self.backlog.observed(depth, token)
        log.warning(
            "Relaying %d records from %s, the spool of a worker no longer running.",
            depth,
            orphan.path,
        )
        set_aside = set_aside_file_for(orphan)
        relayed = 0
        while batch := await self._relay_batch(orphan, set_aside):
            relayed += batch
        self.stats.orphans_drained += 1
        log.warning("Relayed %d records from %s; it is empty.", relayed, orphan.path)
        return relayed

    async def _relay_batch(self, spool: RelaySpool, set_aside: SetAsideFile) -> int:
        pending = await spool.pending(self._batch_size)
        if not pending:
            return 0
        if any(self._refusal(record) for _, record in pending):
            return await self._relay_one_by_one(spool, set_aside, pending)
        try:
            await self.kafka.publish([record for _, record in pending])
        except PublishUnavailable as exc:
            if permanent_refusal(exc) is None:
                raise
            return await self._relay_one_by_one(spool, set_aside, pending)
        await spool.delete([offset for offset, _ in pending])
        self.stats.relayed_records += len(pending)
        self.stats.batches += 1
        return len(pending)

    def _refusal(self, record: BusRecord) -> Refusal | None:
        """A refusal known before sending: an illegal topic name, or a record too large."""
        refusal = topic_refusal(record.topic)
        if refusal is None and self._max_record_bytes is not None:
            size = record_size(record)
            if size > self._max_record_bytes:
                refusal = Refusal(
                    MessageSizeTooLargeError.__name__,
                    f"The record has {size} bytes, more than the {self._max_record_bytes} "
                    "the relay may send.",
                )
        return refusal

    async def _publish_one(self, record: BusRecord) -> Refusal | None:
        """Publish one record: None once acknowledged, the refusal if refused for good.

        Raises `PublishUnavailable` for anything that may clear (the record stays).
        """
        refusal = self._refusal(record)
        if refusal is not None:
            return refusal
        try:
            await self.kafka.publish([record])
        except PublishUnavailable as exc:
            refusal = permanent_refusal(exc)
            if refusal is None:
                raise
            return refusal
        return None

    async def _relay_one_by_one(
        self, spool: RelaySpool, set_aside: SetAsideFile, pending: list[tuple[int, BusRecord]]
    ) -> int:
        """A batch holding a refused record: find it, park it, relay the others in order."""
        self.stats.batches += 1
        for offset, record in pending:
            refusal = await self._publish_one(record)
            if refusal is not None:
                await self._park(spool, set_aside, offset, record, refusal)
                continue
            await spool.delete([offset])
            self.stats.relayed_records += 1
        return len(pending)

    async def _park(
        self,
        spool: RelaySpool,
        set_aside: SetAsideFile,
        offset: int,
        record: BusRecord,
        refusal: Refusal,
    ) -> None:
        """Send a refused record to the DLQ, or set it aside; then delete it from the spool."""
        refusals = [refusal]
        dlq = self._dlq_topic(record.topic)
        if dlq is not None:
            letter = dead_letter(record, refusal, dlq, datetime.now(UTC))
            dlq_refusal = await self._publish_one(letter)
            if dlq_refusal is None:
                await spool.delete([offset])
                self.stats.dead_lettered += 1
                log.error(
                    "Kafka refused a record for good (%s); sent it to %s.",
                    refusal.error_class,
                    dlq,
                    extra={"topic": record.topic, "event_id": record.event_id},
                )
                return
            refusals.append(dlq_refusal)
        await set_aside.add(offset, record, refusals)
        await spool.delete([offset])
        self.stats.set_aside += 1
        log.error(
            "Kafka refused a record for good (%s) and no DLQ took it; set it aside in %s.",
            " then ".join(r.error_class for r in refusals),
            set_aside.path,
            extra={"topic": record.topic, "event_id": record.event_id},
        )

    async def _run(self) -> None:
        backoff = self._initial_backoff
        while True:
            try:
                relayed = await self._orphans_due()
                depth = await self.look()
                relayed += await self.relay_once() if depth else 0
            except PublishUnavailable as exc:
                self.stats.failed_attempts += 1
                self.stats.last_error = type(exc).__name__
                log.warning("Relaying the spool failed: %s Retrying in %.1f s.", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)
                continue
            backoff = self._initial_backoff
            if not relayed:
                await self._idle()

    def _crashed(self, exc: Exception) -> None:
        self.stats.restarts += 1
        self.stats.last_error = type(exc).__name__

    async def _idle(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self._idle_poll)
        self._wake.clear()

    async def _orphans_due(self) -> int:
        """Drain the orphan spools when a scan is due; a failed scan waits for the next."""
        if self._orphans is None or self._clock() < self._next_orphan_scan:
            return 0
        self._next_orphan_scan = self._clock() + self._orphan_scan
        return await self.drain_orphans()


def set_aside_file_for(spool: RelaySpool) -> SetAsideFile:
    """`{spool file}.set-aside.jsonl`, beside the spool the records were in."""
    return SetAsideFile(spool.path.with_name(spool.path.name + ".set-aside.jsonl"))
