"""A consumer-group worker: Kafka batches into the store, offsets committed after.

Each `getmany` batch becomes CloudEvents and goes to `apply` (the `Applier`: one
transaction, idempotent through its ledger); the batch's offsets are committed only
after `apply` returned. A crash re-delivers at most the uncommitted batches, which
the ledger makes harmless. On a rebalance the revoke waits for the batch in hand
to be applied and committed, so a partition moves with everything applied committed.

Batches are pipelined one deep: while one batch is applied and committed (a task,
mostly waiting on the store), the next is fetched and decoded. It is applied only
after the previous batch's offsets were committed, and only if no revoke came in
between (its records are then dropped uncommitted, and re-delivered to the
partitions' owner); stopping drops it the same way. Given a `prepare` (the
`Applier`'s), the next batch is also prepared meanwhile (deduped, routed, its rows
built: pure CPU, nothing read or written), and its first `apply` gets what
`prepare` returned; a batch dropped is dropped prepared, and a retry applies the
plain events (prepared again).

Failures: a transient error (the database or network unreachable) is retried with
exponential back-off until it clears; nothing is skipped. Any other error is
retried `max_retries` times, then the batch is applied event by event and the
events that still fail go to the DLQ with the error, and the worker moves on.

Consumers never import the gateway: everything comes in a `KafkaRunnerConfig`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from aiokafka.structs import OffsetAndMetadata, TopicPartition

from consumers.dlq import DeadLetterProducer, describe_error, is_transient
from schemas import CloudEvent
from schemas.deadletter import DeadLetter

log = logging.getLogger(__name__)

Apply = Callable[[Sequence[CloudEvent]], Awaitable[object]]
Prepare = Callable[[Sequence[CloudEvent]], Awaitable[Sequence[CloudEvent]]]
"""The batch's events in a form `apply` takes with less to do (no I/O: see above)."""
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class KafkaRunnerConfig:
    bootstrap_servers: str
    topics: tuple[str, ...]
    group_id: str
    dlq_topic: str
    client_id: str = "hookgate-consumer"
    max_batch: int = 500
    poll_timeout_ms: int = 500
    max_retries: int = 3
    """Attempts after the first before a failing batch is split and its poison parked."""
    backoff_initial_seconds: float = 0.2
    backoff_max_seconds: float = 10.0
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 2_000
    max_poll_interval_ms: int = 300_000
    auto_offset_reset: str = "earliest"


@dataclass
class KafkaRunnerStats:
    batches: int = 0
    events: int = 0
    commits: int = 0
    retries: int = 0
    dead_letters: int = 0
    assignments: int = 0
    commit_failures: int = 0
    last_error: str | None = field(default=None, repr=False)


@dataclass
class _Tries:
    total: int = 0
    permanent: int = 0


class _Abandon(Exception):
    """Stop requested while the store is unreachable: leave the batch uncommitted."""


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, runner: KafkaRunner) -> None:
        self._runner = runner

    async def on_partitions_revoked(self, revoked: Any) -> None:
        # The batch in hand is applied and committed under this lock.
        async with self._runner._batch_lock:
            self._runner._generation += 1
        log.info("Partitions revoked: %s", _names(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self._runner.stats.assignments += 1
        log.info("Partitions assigned: %s", _names(assigned))


class KafkaRunner:
    """Run with `await runner.run()`; `runner.stop()` ends it after the batch in hand."""

    def __init__(
        self,
        config: KafkaRunnerConfig,
        apply: Apply,
        *,
        dead_letters: DeadLetterProducer | None = None,
        sleep: Sleep = asyncio.sleep,
        prepare: Prepare | None = None,
    ) -> None:
        self.config = config
        self.stats = KafkaRunnerStats()
        self._apply = apply
        self._prepare = prepare
        self._dead_letters = dead_letters or DeadLetterProducer(
            config.bootstrap_servers, config.dlq_topic, client_id=f"{config.client_id}-dlq"
        )
        self._sleep = sleep
        self._stopping = asyncio.Event()
        self._batch_lock = asyncio.Lock()
        self._generation = 0
        """Revokes so far: a batch fetched before one is not applied."""
        self._consumer: AIOKafkaConsumer | None = None
        self.started = asyncio.Event()

    def stop(self) -> None:
        """Finish the batch in hand, commit it, leave the group."""
        self._stopping.set()

    @property
    def assignment(self) -> set[TopicPartition]:
        return set(self._consumer.assignment()) if self._consumer is not None else set()

    async def run(self) -> None:
        cfg = self.config
        consumer = AIOKafkaConsumer(
            bootstrap_servers=cfg.bootstrap_servers,
            group_id=cfg.group_id,
            client_id=cfg.client_id,
            enable_auto_commit=False,
            auto_offset_reset=cfg.auto_offset_reset,
            session_timeout_ms=cfg.session_timeout_ms,
            heartbeat_interval_ms=cfg.heartbeat_interval_ms,
            max_poll_interval_ms=cfg.max_poll_interval_ms,
            max_poll_records=cfg.max_batch,
        )
        await self._dead_letters.start()
        try:
            await consumer.start()
            self._consumer = consumer
            consumer.subscribe(list(cfg.topics), listener=_Rebalance(self))
            self.started.set()
            await self._pipeline(consumer)
        finally:
            self._consumer = None
            await consumer.stop()  # leaves the group
            await self._dead_letters.stop()

    async def _pipeline(self, consumer: AIOKafkaConsumer) -> None:
        """Fetch and decode a batch while the one before is applied (`in_hand`)."""
        cfg = self.config
        in_hand: asyncio.Task[None] | None = None
        try:
            while not self._stopping.is_set():
                batches = await consumer.getmany(
                    timeout_ms=cfg.poll_timeout_ms, max_records=cfg.max_batch
                )
                # Taken in the step getmany returned in: records it returns belong to
                # the assignment of that moment (aiokafka drops older ones).
                generation = self._generation
                if not batches:
                    continue
                batch = await self._decode(batches, generation)
                await self._prepare_ahead(batch)
                if in_hand is not None:
                    await in_hand
                    in_hand = None
                if self._stopping.is_set():
                    break
                in_hand = asyncio.create_task(self._handle(consumer, batch))
            if in_hand is not None:
                await in_hand
                in_hand = None
        except _Abandon:
            log.warning("Stopping with a batch not applied; it will be re-delivered.")
        finally:
            if in_hand is not None:  # cancelled, or fetching failed: like a crash
                in_hand.cancel()
                await asyncio.gather(in_hand, return_exceptions=True)

    async def _decode(self, batches: dict[TopicPartition, list[Any]], generation: int) -> _Batch:
        """The records as CloudEvents; those that are not go to the DLQ as they are.

        Yields to the loop every `_DECODE_CHUNK` records, so the batch being applied
        meanwhile gets its answers from the store without waiting for the whole batch.
        """
        batch = _Batch(batches, generation)
        for count, record in enumerate(
            (record for records in batches.values() for record in records), 1
        ):
            try:
                batch.events.append((record, _event(record)))
            except (KeyError, ValueError, UnicodeDecodeError) as exc:
                batch.poison.append(self._dead_letter(record, exc, attempts=0))
            if count % _DECODE_CHUNK == 0:
                await asyncio.sleep(0)
        return batch

    async def _prepare_ahead(self, batch: _Batch) -> None:
        """Prepare `batch` (while the batch before is written); on error leave it plain:
        its `apply` then meets the error, retried and parked as without `prepare`."""
        if self._prepare is None or not batch.events:
            return
        try:
            batch.prepared = await self._prepare([event for _, event in batch.events])
        except Exception as exc:  # noqa: BLE001 - apply raises it again, where it is handled
            log.warning(
                "Preparing a batch failed (%s); applying it unprepared.", describe_error(exc)[0]
            )

    async def _handle(self, consumer: AIOKafkaConsumer, batch: _Batch) -> None:
        """Apply, park the poison, commit: under the lock a revoke waits for."""
        async with self._batch_lock:
            if batch.generation != self._generation:
                return  # fetched before a revoke: the partitions' owner re-reads it
            poison = list(batch.poison)
            if batch.events:
                poison.extend(await self._apply_batch(batch.events, batch.prepared))
            if poison:
                await self._park(poison)
            await self._commit(consumer, batch.partitions)
            self.stats.batches += 1
            self.stats.events += len(batch.events) + len(batch.poison)

    async def _apply_batch(
        self, events: list[tuple[Any, CloudEvent]], prepared: Sequence[CloudEvent] | None
    ) -> list[DeadLetter]:
        """Apply with retries (`prepared` the first time, if given); if it keeps failing,
        one by one; return the poison."""
        plain = [event for _, event in events]
        tries = _Tries()
        while True:
            try:
                await self._apply(plain if prepared is None or tries.total else prepared)
                return []
            except Exception as exc:  # noqa: BLE001 - classified by _retry
                if not await self._retry(exc, tries):
                    break
        poison: list[DeadLetter] = []
        for record, event in events:
            letter = await self._apply_one(record, event)
            if letter is not None:
                poison.append(letter)
        return poison

    async def _apply_one(self, record: Any, event: CloudEvent) -> DeadLetter | None:
        tries = _Tries(permanent=self.config.max_retries)
        while True:
            try:
                await self._apply([event])
                return None
            except Exception as exc:  # noqa: BLE001 - classified by _retry
                if not await self._retry(exc, tries):
                    return self._dead_letter(record, exc, attempts=self.config.max_retries + 2)

    async def _retry(self, exc: BaseException, tries: _Tries) -> bool:
        """Back off and say whether to try again: transient errors until they clear
        (unless stopping), others up to `max_retries` times."""
        error_class, message = describe_error(exc)
        self.stats.last_error = error_class
        transient = is_transient(exc)
        if transient and self._stopping.is_set():
            raise _Abandon from exc
        if not transient:
            tries.permanent += 1
            if tries.permanent > self.config.max_retries:
                return False
        tries.total += 1
        self.stats.retries += 1
        delay = min(
            self.config.backoff_initial_seconds * 2 ** min(tries.total - 1, 16),
            self.config.backoff_max_seconds,
        )
        log.warning("Applying failed (%s: %s); retrying in %.1f s.", error_class, message, delay)
        await self._sleep(delay)
        return True

    def _dead_letter(self, record: Any, exc: BaseException, *, attempts: int) -> DeadLetter:
        error_class, message = describe_error(exc)
        return DeadLetter(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value,
            headers=tuple(record.headers),
            group=self.config.group_id,
            attempts=attempts,
            error_class=error_class,
            error=message,
        )

    async def _park(self, letters: list[DeadLetter]) -> None:
        """Send to the DLQ; keep trying while Kafka cannot take them (nothing is dropped)."""
        delay = self.config.backoff_initial_seconds
        while True:
            try:
                await self._dead_letters.send(letters)
            except KafkaError as exc:
                log.warning("The DLQ did not take %d event(s) (%s).", len(letters), exc)
                await self._sleep(delay)
                delay = min(delay * 2, self.config.backoff_max_seconds)
                continue
            self.stats.dead_letters += len(letters)
            for letter in letters:
                log.error(
                    "Event at %s[%d]@%d sent to the DLQ after %d attempts: %s.",
                    letter.topic,
                    letter.partition,
                    letter.offset,
                    letter.attempts,
                    letter.error_class,
                )
            return

    async def _commit(
        self, consumer: AIOKafkaConsumer, batches: dict[TopicPartition, list[Any]]
    ) -> None:
        offsets = {tp: OffsetAndMetadata(batch[-1].offset + 1, "") for tp, batch in batches.items()}
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # The group moved on: the new owner re-delivers; the ledger dedupes.
            self.stats.commit_failures += 1
            log.warning("Committing offsets failed after a rebalance (%s).", type(exc).__name__)
            return
        self.stats.commits += 1


@dataclass
class _Batch:
    """One `getmany` result, decoded, and the revoke count when it was fetched."""

    partitions: dict[TopicPartition, list[Any]]
    generation: int
    events: list[tuple[Any, CloudEvent]] = field(default_factory=list)
    poison: list[DeadLetter] = field(default_factory=list)
    prepared: Sequence[CloudEvent] | None = None
    """The events as `prepare` returned them, for the first `apply`."""


_DECODE_CHUNK = 64
"""Small: the batch being written meanwhile continues only when decoding yields."""


def _event(record: Any) -> CloudEvent:
    return CloudEvent.from_kafka(record.headers, record.key, record.value)


def _names(partitions: Any) -> str:
    return ", ".join(sorted(f"{tp.topic}[{tp.partition}]" for tp in partitions)) or "none"


async def run_until_signalled(runner: KafkaRunner, *signals: int) -> None:
    """Run `runner`; the given signals (SIGTERM, SIGINT) stop it gracefully."""
    loop = asyncio.get_running_loop()
    for signum in signals:
        loop.add_signal_handler(signum, runner.stop)
    try:
        await runner.run()
    finally:
        for signum in signals:
            with contextlib.suppress(ValueError, RuntimeError):
                loop.remove_signal_handler(signum)
