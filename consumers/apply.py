"""Apply a consumed batch of events to the local store, in one transaction.

The runners (embedded log, Kafka) call `Applier.apply` with each batch and commit
their offsets only after it returns. Within the transaction: every event of the
batch is first claimed in the ledger (`consumers.upsert.insert_new`: on PostgreSQL
one binary COPY when every event is new, else one set-based insert that returns the
events not there before; on SQLite a lookup and an insert), including those no
handler takes (counted, not failed, and not counted again on redelivery); the
claimed ones then go to their handlers. If a handler raises, nothing of the batch
is written, the ledger rows included, and the error propagates.

`PreparedHandler`s prepare every event of the batch while the ledger claim is on
its way to the store (yielding to it between chunks), then write the claimed ones;
an event that failed to prepare raises its error only if it was claimed, as it
would have in the handler.

A runner may do that pure part earlier: `Applier.prepare` dedupes, routes and
prepares a batch, and makes its ledger rows (their time is bound when they are
claimed), without touching the store (prepare is pure by contract; what reads the
store, such as a phone's default region, happens in `write`), and returns a
`PreparedBatch`, which `apply` then takes as its events. The Kafka runner prepares
batch N+1 while batch N is written. What was prepared is used once: the handlers'
`write` may complete the prepared rows in place, so a retry prepares afresh.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, overload

from sqlalchemy import delete
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from consumers.deliveries import LastDeliveries
from consumers.registry import Handler, HandlerRegistry, PreparedHandler
from consumers.upsert import Rows, insert_new
from schemas import CloudEvent
from schemas.store import processed_events

APPLIED = "applied"
UNHANDLED = "unhandled"


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What one batch did."""

    applied: int = 0
    """New events a handler applied."""
    duplicates: int = 0
    """Events skipped: already in the ledger, or repeated within the batch."""
    unhandled: int = 0
    """New events of a type no handler takes: recorded, otherwise skipped."""
    unhandled_types: Mapping[str, int] = field(default_factory=dict)
    statements: int = 0
    """SQL statements the batch sent; its round trips are these plus BEGIN and COMMIT."""


class ApplyMetrics(Protocol):
    """Where an `Applier` reports each batch (the Prometheus metrics, in the app)."""

    def observe(self, result: ApplyResult, seconds: float) -> None: ...


class Applier:
    """Applies batches of events through the registry's handlers."""

    def __init__(
        self,
        engine: AsyncEngine,
        registry: HandlerRegistry,
        *,
        metrics: ApplyMetrics | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        deliveries: LastDeliveries | None = None,
    ) -> None:
        """`deliveries` is told of every batch applied (the sources' `last_delivery_at`)."""
        self._engine = engine
        self._registry = registry
        self._metrics = metrics
        self._clock = clock
        self.deliveries = deliveries

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    async def prepare(self, events: Sequence[CloudEvent]) -> PreparedBatch:
        """`events` deduped, routed and prepared for `apply`, without touching the store.

        Pure CPU (yielding to the loop between chunks): nothing is read or written, so
        it may run while the batch before is being written, and a batch dropped after
        it (a revoke) leaves nothing behind.
        """
        plan = self._plan(events)
        plan.prepared = await _prepare(plan.groups)
        return PreparedBatch(tuple(events), self, plan)

    async def apply(self, events: Sequence[CloudEvent]) -> ApplyResult:
        """Apply `events` (in bus order) in one transaction; idempotent per event.

        `events` may be a `PreparedBatch` from this applier's `prepare`.
        """
        started = time.perf_counter()
        plan = events.take(self) if isinstance(events, PreparedBatch) else None
        if plan is None:
            plan = self._plan(events)
        unique, groups, unhandled = plan.unique, plan.groups, plan.unhandled
        if not unique:
            return ApplyResult(duplicates=len(events))
        async with self._engine.begin() as connection:
            with _counting(connection) as count:
                claiming = asyncio.ensure_future(_claim(connection, plan.ledger, self._clock()))
                try:
                    prepared = plan.prepared
                    if prepared is None:
                        prepared = await _prepare(groups)
                    claimed = await claiming
                finally:
                    if not claiming.done():
                        claiming.cancel()
                        await asyncio.gather(claiming, return_exceptions=True)
                for (handler, group), items in zip(groups, prepared, strict=True):
                    await _write(connection, handler, group, items, claimed)
            statements = count[0] + plan.ledger.copied
        unhandled = [event for event in unhandled if (event.source, event.id) in claimed]
        result = ApplyResult(
            applied=len(claimed) - len(unhandled),
            duplicates=len(events) - len(claimed),
            unhandled=len(unhandled),
            unhandled_types=dict(Counter(event.type for event in unhandled)),
            statements=statements,
        )
        if self._metrics is not None:
            self._metrics.observe(result, time.perf_counter() - started)
        if self.deliveries is not None:
            await self.deliveries.applied(plan.unique)
        return result

    def _plan(self, events: Sequence[CloudEvent]) -> _Plan:
        unique = _first_of_each(events)
        groups, unhandled = self._registry.route(unique) if unique else ([], [])
        return _Plan(unique, groups, unhandled, _ledger_rows(unique, unhandled))

    async def prune(self, older_than: datetime) -> int:
        """Forget ledger rows processed before `older_than`; returns how many.

        Past the retention a redelivered event is applied again, which the version
        guards make harmless; only an unhandled type would be counted twice.
        """
        async with self._engine.begin() as connection:
            result = await connection.execute(
                delete(processed_events).where(processed_events.c.processed_at < older_than)
            )
        return int(result.rowcount)


@dataclass(slots=True)
class _Plan:
    """A batch's first occurrences, grouped by handler, their ledger rows, and (once
    prepared) their items."""

    unique: list[CloudEvent]
    groups: list[tuple[Handler, list[CloudEvent]]]
    unhandled: list[CloudEvent]
    ledger: Rows
    prepared: list[list[object] | None] | None = None


class PreparedBatch(Sequence[CloudEvent]):
    """A batch's events, as `Applier.prepare` returned them, with its work done.

    A sequence of the events, so whatever wraps `apply` sees the batch as it is; the
    applier that prepared it takes the prepared part once (`take`), later calls (a
    retry) and other appliers get None and prepare again.
    """

    __slots__ = ("_events", "_owner", "_plan")

    def __init__(self, events: tuple[CloudEvent, ...], owner: Applier, plan: _Plan) -> None:
        self._events = events
        self._owner: Applier | None = owner
        self._plan: _Plan | None = plan

    def take(self, owner: Applier) -> _Plan | None:
        """The prepared plan, the first time `owner` (the preparing applier) asks."""
        if owner is not self._owner:
            return None
        plan, self._plan, self._owner = self._plan, None, None
        return plan

    @overload
    def __getitem__(self, index: int) -> CloudEvent: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[CloudEvent]: ...
    def __getitem__(self, index: int | slice) -> CloudEvent | Sequence[CloudEvent]:
        return self._events[index]

    def __len__(self) -> int:
        return len(self._events)

    def __iter__(self) -> Iterator[CloudEvent]:
        return iter(self._events)


@dataclass(frozen=True, slots=True)
class _Failed:
    """An event whose preparation raised; the error is raised if it is written."""

    error: Exception


PREPARE_CHUNK = 64
"""Events prepared between two turns of the event loop: the store's answers to the
batch being written (or to this batch's claim) wait at most this long."""


async def _prepare(groups: Sequence[tuple[Handler, list[CloudEvent]]]) -> list[list[object] | None]:
    """Each `PreparedHandler` group's events prepared (None for plain handlers)."""
    prepared: list[list[object] | None] = []
    done = 0
    for handler, group in groups:
        if not isinstance(handler, PreparedHandler):
            prepared.append(None)
            continue
        items: list[object] = []
        for event in group:
            try:
                items.append(handler.prepare(event))
            except Exception as exc:  # noqa: BLE001 - raised in _write if the event is new
                items.append(_Failed(exc))
            done += 1
            if done % PREPARE_CHUNK == 0:
                await asyncio.sleep(0)
        prepared.append(items)
    return prepared


async def _write(
    connection: AsyncConnection,
    handler: Handler,
    group: Sequence[CloudEvent],
    items: Sequence[object] | None,
    claimed: set[tuple[str, str]],
) -> None:
    if items is None or not isinstance(handler, PreparedHandler):
        fresh = [event for event in group if (event.source, event.id) in claimed]
        if fresh:
            await handler(connection, fresh)
        return
    ready: list[tuple[CloudEvent, object]] = []
    for event, item in zip(group, items, strict=True):
        if (event.source, event.id) in claimed:
            if isinstance(item, _Failed):
                raise item.error
            ready.append((event, item))
    if ready:
        await handler.write(connection, ready)


def _first_of_each(events: Sequence[CloudEvent]) -> list[CloudEvent]:
    seen: set[tuple[str, str]] = set()
    unique = []
    for event in events:
        key = (event.source, event.id)
        if key not in seen:
            seen.add(key)
            unique.append(event)
    return unique


def _ledger_rows(events: Sequence[CloudEvent], unhandled: Sequence[CloudEvent]) -> Rows:
    """The ledger rows of `events` (but their time, bound once when they are claimed)."""
    unhandled_ids = {id(event) for event in unhandled}
    return Rows(
        processed_events,
        [
            {
                "source": event.source,
                "event_id": event.id,
                "type": event.type,
                "outcome": UNHANDLED if id(event) in unhandled_ids else APPLIED,
            }
            for event in events
        ],
    )


async def _claim(connection: AsyncConnection, ledger: Rows, now: datetime) -> set[tuple[str, str]]:
    """Record the ledger rows, processed `now`; return the keys of those not recorded before."""
    claimed: set[tuple[str, str]] = await insert_new(
        connection, ledger, key=("source", "event_id"), same={"processed_at": now}
    )
    return claimed


@contextmanager
def _counting(connection: AsyncConnection) -> Iterator[list[int]]:
    """Count the statements sent on `connection` inside the block (in `[0]`)."""
    count = [0]

    def on_execute(*_: object) -> None:
        count[0] += 1

    target = connection.sync_connection
    sa_event.listen(target, "before_cursor_execute", on_execute)
    try:
        yield count
    finally:
        sa_event.remove(target, "before_cursor_execute", on_execute)
