"""Publishing to Kafka with acks=all, one produce per partition for concurrent callers.

Per-message producer overhead, not the broker's acknowledgement, dominates the cost
of `send_and_wait` per request. So `publish` only queues its records and waits: a
flusher task takes everything queued, builds one record batch per partition
(`create_batch` / `send_batch`), and each caller returns when every batch holding one
of its records is acknowledged. aiokafka keeps one produce request in flight per
broker and each request takes one batch per partition, so batches handed to it
while one is in flight would each wait for a produce request of their own: the
flusher keeps at most two flushes unacknowledged (one in flight, the next ready to
go), and the rest of what arrives meanwhile waits to go out together. Alone, a
request is sent at once (no linger).

aiokafka never gives up on an unreachable broker by itself (`send_and_wait`
blocks), so every call has its own bound: past `timeout_seconds` the caller gets
`PublishUnavailable` and falls back to the spool. A record whose wait timed out may
still reach Kafka later; consumers dedupe by `ce_id`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, KafkaTimeoutError, MessageSizeTooLargeError
from aiokafka.partitioner import murmur2
from aiokafka.structs import TopicPartition

from gateway.bus.lifecycle import StartStop
from gateway.bus.publish import PublishUnavailable
from gateway.settings import Settings
from schemas import BusRecord

log = logging.getLogger(__name__)

DEFAULT_MAX_BATCH_BYTES = 1_000_000
"""Below Kafka's default `message.max.bytes` (1 MiB), so one batch is never refused for size."""

DEFAULT_STOP_SECONDS = 3.0
"""How long `stop` lets the producer deliver what it still holds before dropping it."""

_STOP_POLL_SECONDS = 0.1
_CONNECT_BACKOFF_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)
_FLUSHES_IN_FLIGHT = 2
"""Flushes handed to the producer and not yet acknowledged, at most: one in a produce
request, the next built and waiting for it, so the producer never idles between them."""
_EXPIRY_TICK_SECONDS = 0.05
"""How often waiting publishes are checked against their deadline."""


@dataclass
class KafkaPublisherStats:
    """Counters for tests and metrics."""

    produce_batches: int = 0
    """Record batches handed to the producer (one per partition per flush)."""
    flushes: int = 0
    acknowledged_records: int = 0
    timeouts: int = 0
    failures: int = 0
    last_error: str | None = field(default=None, repr=False)


class _Expired(Exception):
    """Set on a request still waiting when its time is up (by the expiry task)."""


@dataclass(eq=False, slots=True)
class _Request:
    """One `publish` call: resolved when every batch holding one of its records is acked."""

    records: Sequence[BusRecord]
    done: asyncio.Future[None]
    deadline: float
    pending: int = 1
    """Batches not yet acknowledged, plus one while the flusher is still placing records."""

    def fail(self, error: BaseException) -> None:
        if not self.done.done():
            self.done.set_exception(error)

    def release(self) -> None:
        self.pending -= 1
        if self.pending == 0 and not self.done.done():
            self.done.set_result(None)


def _batch_done(requests: list[_Request], batch: asyncio.Future[Any]) -> None:
    """A produce batch was acknowledged (or refused): tell every request it holds."""
    error: BaseException | None
    if batch.cancelled():
        error = PublishUnavailable("The produce was cancelled.")
    else:
        error = batch.exception()
    for request in requests:
        if error is not None:
            request.fail(error)
        else:
            request.release()


@functools.lru_cache(maxsize=65_536)
def _key_hash(key: bytes) -> int:
    return int(murmur2(key)) & 0x7FFFFFFF


def partition_for(key: bytes, partitions: int) -> int:
    """The Java client's default partition for a keyed record (murmur2), as aiokafka's."""
    return _key_hash(key) % partitions


class KafkaPublisher(StartStop):
    """`gateway.bus.publish.Publisher` over Kafka. Use as `async with KafkaPublisher(...) as p:`."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        timeout_seconds: float = 2.0,
        enable_idempotence: bool = False,
        compression_type: str | None = None,
        client_id: str = "hookgate-gateway",
        max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
        request_timeout_ms: int = 30_000,
        stop_seconds: float = DEFAULT_STOP_SECONDS,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.stats = KafkaPublisherStats()
        self._timeout = timeout_seconds
        self._stop_seconds = stop_seconds
        self._producer_options: dict[str, Any] = {
            "bootstrap_servers": bootstrap_servers,
            "client_id": client_id,
            "acks": "all",
            "enable_idempotence": enable_idempotence,
            "compression_type": compression_type,
            "max_batch_size": max_batch_bytes,
            "max_request_size": max_batch_bytes + 64_000,
            "request_timeout_ms": request_timeout_ms,
            "linger_ms": 0,
        }
        self._producer: AIOKafkaProducer | None = None
        self._partitions: dict[str, int] = {}
        self._queue: list[_Request] = []
        self._queued = asyncio.Event()
        self._waiting: deque[_Request] = deque()
        """Every request not yet answered, oldest first (for the expiry task)."""
        self._expiring = asyncio.Event()
        self._expire_task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connect_task: asyncio.Task[None] | None = None
        self._flush_task: asyncio.Task[None] | None = None
        self._healthy = False

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> KafkaPublisher:
        if not settings.kafka_bootstrap_servers:
            raise ValueError("HOOKGATE_KAFKA_BOOTSTRAP_SERVERS is not set")
        return cls(
            settings.kafka_bootstrap_servers,
            timeout_seconds=settings.kafka_publish_timeout_seconds,
            enable_idempotence=settings.kafka_enable_idempotence,
            **options,
        )

    # lifecycle ------------------------------------------------------------------

    async def start(self, *, wait_seconds: float | None = None) -> None:
        """Connect in the background, so the gateway starts (and spools) during an outage.

        With `wait_seconds`, also wait up to that long for the first connection.
        """
        if self._connect_task is None:
            self._loop = asyncio.get_running_loop()
            self._connect_task = asyncio.create_task(self._connect(), name="hookgate-kafka-connect")
            self._flush_task = asyncio.create_task(self._flush_loop(), name="hookgate-kafka-flush")
            self._expire_task = asyncio.create_task(
                self._expire_loop(), name="hookgate-kafka-expiry"
            )
        if wait_seconds is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._connect_task), wait_seconds)

    async def stop(self) -> None:
        """Stop taking records; what was queued but not produced fails as unavailable."""
        for task in (self._connect_task, self._flush_task, self._expire_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._connect_task = self._flush_task = self._expire_task = None
        stopped = PublishUnavailable("The publisher stopped.")
        for request in self._waiting:
            request.fail(stopped)
        self._waiting.clear()
        self._queue.clear()
        producer, self._producer = self._producer, None
        self._healthy = False
        if producer is not None:
            await _stop_producer(producer, self._stop_seconds)

    @property
    def connected(self) -> bool:
        return self._producer is not None

    async def _connect(self) -> None:
        attempt = 0
        while self._producer is None:
            producer = AIOKafkaProducer(**self._producer_options)
            try:
                await producer.start()
            except (KafkaError, OSError) as exc:
                await producer.stop()
                delay = _CONNECT_BACKOFF_SECONDS[min(attempt, len(_CONNECT_BACKOFF_SECONDS) - 1)]
                log.warning(
                    "Kafka is not reachable yet (%s); retrying in %.1f s.", _name(exc), delay
                )
                attempt += 1
                await asyncio.sleep(delay)
                continue
            self._producer = producer
            self._healthy = True

    # publishing -----------------------------------------------------------------

    async def publish(self, records: Sequence[BusRecord]) -> None:
        """Return once Kafka acknowledged every record (acks=all), or raise `PublishUnavailable`."""
        if not records:
            return
        if self._producer is None or self._flush_task is None:
            raise PublishUnavailable("Kafka is not connected.")
        loop = self._loop  # not asyncio.get_running_loop(): on 3.11 that is a getpid call
        if loop is None:
            raise PublishUnavailable("Kafka is not connected.")
        request = _Request(records, loop.create_future(), loop.time() + self._timeout)
        self._queue.append(request)
        self._waiting.append(request)
        self._queued.set()
        self._expiring.set()
        try:
            await request.done
        except _Expired:
            self.stats.timeouts += 1
            self._healthy = False
            raise PublishUnavailable(
                f"Kafka did not acknowledge within {self._timeout:g} seconds."
            ) from None
        except PublishUnavailable as exc:
            self._fail(exc)
            raise
        except Exception as error:  # the broker refused this request's batch
            self._fail(error)
            raise PublishUnavailable(f"Kafka refused the records ({_name(error)}).") from error
        self._healthy = True
        self.stats.acknowledged_records += len(records)

    async def ready(self) -> bool:
        """Connected, and the last publish (if any) was acknowledged in time."""
        return self._producer is not None and self._healthy

    def _fail(self, exc: BaseException) -> None:
        self.stats.failures += 1
        self.stats.last_error = _name(exc)
        self._healthy = False

    # deadlines ------------------------------------------------------------------

    async def _expire_loop(self) -> None:
        """Fail the requests still waiting past their deadline (one task, not a timer each).

        Requests wait in arrival order and share one timeout, so the oldest is always
        first; answered ones are dropped from the front as the sweep passes them.
        """
        loop = asyncio.get_running_loop()
        tick = min(_EXPIRY_TICK_SECONDS, self._timeout / 10)
        waiting = self._waiting
        while True:
            if not waiting:
                self._expiring.clear()
                await self._expiring.wait()
            await asyncio.sleep(tick)
            now = loop.time()
            while waiting and (waiting[0].done.done() or waiting[0].deadline <= now):
                request = waiting.popleft()
                if not request.done.done():
                    request.fail(_Expired())

    # the flusher ----------------------------------------------------------------

    async def _flush_loop(self) -> None:
        in_flight: deque[list[asyncio.Future[Any]]] = deque()
        """The batches of the flushes not yet acknowledged, oldest first."""
        while True:
            await self._queued.wait()
            while in_flight and all(batch.done() for batch in in_flight[0]):
                in_flight.popleft()
            if len(in_flight) >= _FLUSHES_IN_FLIGHT:
                # What arrives meanwhile goes out together once the oldest flush is
                # acknowledged; a stuck broker holds it no longer than a publish
                # waits (its callers have fallen back to the spool by then).
                await asyncio.wait(in_flight.popleft(), timeout=self._timeout)
            self._queued.clear()
            requests, self._queue = self._queue, []
            live = [request for request in requests if not request.done.done()]
            producer = self._producer
            if producer is None:
                for request in live:
                    request.fail(PublishUnavailable("Kafka is not connected."))
            elif live:
                try:
                    in_flight.append(await self._flush(producer, live))
                except Exception as exc:
                    log.exception("Handing records to the Kafka producer failed.")
                    failure = PublishUnavailable(f"Kafka publishing failed ({_name(exc)}).")
                    for request in live:
                        request.fail(failure)

    async def _flush(
        self, producer: AIOKafkaProducer, requests: list[_Request]
    ) -> list[asyncio.Future[Any]]:
        """Hand the records of `requests` to the producer, one batch per partition;
        returns the batches' futures."""
        self.stats.flushes += 1
        by_partition: dict[TopicPartition, list[tuple[_Request, BusRecord]]] = {}
        placed: list[_Request] = []
        for request in requests:
            try:
                for record in request.records:
                    tp = await self._partition_of(producer, record)
                    by_partition.setdefault(tp, []).append((request, record))
            except (KafkaError, TimeoutError) as exc:
                request.fail(
                    PublishUnavailable(f"Kafka has no metadata for the topic ({_name(exc)}).")
                )
                continue
            placed.append(request)
        sent = await asyncio.gather(
            *(self._send_partition(producer, tp, items) for tp, items in by_partition.items())
        )
        batches: list[asyncio.Future[Any]] = []
        for items, outcome in zip(by_partition.values(), sent, strict=True):
            holders = list({id(request): request for request, _ in items}.values())
            if isinstance(outcome, BaseException):
                for request in holders:
                    request.fail(outcome)
                continue
            for batch in outcome:
                for request in holders:
                    request.pending += 1
                batch.add_done_callback(functools.partial(_batch_done, holders))
            batches += outcome
        for request in placed:
            request.release()
        return batches

    async def _send_partition(
        self,
        producer: AIOKafkaProducer,
        tp: TopicPartition,
        items: list[tuple[_Request, BusRecord]],
    ) -> list[asyncio.Future[Any]] | PublishUnavailable:
        futures: list[asyncio.Future[Any]] = []
        try:
            batch = producer.create_batch()
            for _, record in items:
                if not _append(batch, record):
                    futures.append(await self._send_batch(producer, batch, tp))
                    batch = producer.create_batch()
                    if not _append(batch, record):
                        raise MessageSizeTooLargeError(f"a record on {tp.topic} is too large")
            futures.append(await self._send_batch(producer, batch, tp))
        except KafkaError as exc:
            failure = PublishUnavailable(f"Kafka refused the records ({_name(exc)}).")
            failure.__cause__ = exc
            return failure
        return futures

    async def _send_batch(
        self, producer: AIOKafkaProducer, batch: Any, tp: TopicPartition
    ) -> asyncio.Future[Any]:
        batch.close()
        future: asyncio.Future[Any] = await producer.send_batch(
            batch, tp.topic, partition=tp.partition
        )
        self.stats.produce_batches += 1
        return future

    async def _partition_of(self, producer: AIOKafkaProducer, record: BusRecord) -> TopicPartition:
        count = self._partitions.get(record.topic)
        if count is None:
            partitions = await asyncio.wait_for(
                producer.partitions_for(record.topic), self._timeout
            )
            count = self._partitions[record.topic] = len(partitions)
        return TopicPartition(record.topic, partition_for(record.key, count))


async def _stop_producer(producer: AIOKafkaProducer, bound: float) -> None:
    """`producer.stop()`, but no longer than `bound` seconds for the batches it holds.

    aiokafka's `stop` waits until every batch it holds is acknowledged or expires
    (`request_timeout_ms`, 30 s), so with the broker unreachable a gateway given
    SIGTERM would wait that long. By the time the publisher stops, every publish has
    been answered (acknowledged, or timed out and sent to the spool), so those batches
    can only duplicate what the spool holds (consumers drop duplicates by `ce_id`):
    past `bound` the sender task is cancelled (again while it still waits: a task
    cancelled while it awaits a produce request's task cancels that one too), and
    what is left is failed. aiokafka has no public call for that, hence its private
    `_sender` and `_message_accumulator`.
    """
    stopping = asyncio.ensure_future(producer.stop())
    done, _ = await asyncio.wait({stopping}, timeout=bound)
    if done:
        stopping.result()
        return
    log.warning(
        "Kafka did not acknowledge what the producer still held within %.1f s of "
        "stopping; dropping it (those publishes were already answered).",
        bound,
    )
    sender = producer._sender.sender_task
    while not stopping.done():
        sender.cancel()
        await asyncio.wait({stopping}, timeout=_STOP_POLL_SECONDS)
    producer._message_accumulator.fail_all(KafkaTimeoutError())
    stopping.result()


def _append(batch: Any, record: BusRecord) -> bool:
    """Add `record` to `batch`; False when the batch is full."""
    added = batch.append(
        key=record.key, value=record.value, timestamp=None, headers=list(record.headers)
    )
    return added is not None


def _name(exc: BaseException) -> str:
    return type(exc).__name__
