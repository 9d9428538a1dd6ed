"""Event handlers, registered on a registry object composed at start-up.

A handler receives every event of its types in one consumed batch, in bus order,
together with the open database connection of the batch's transaction, and writes
with set-based statements. Events without a handler are counted and skipped.

A `PreparedHandler` splits that in two: `prepare` (per event, no I/O: parse the
data, build the rows) and `write` (the statements, for the prepared events that
the ledger found new). The `Applier` prepares a batch while its ledger claim is
on the way to the store, so the CPU and the database work side by side.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from schemas import CloudEvent

Handler = Callable[[AsyncConnection, Sequence[CloudEvent]], Awaitable[None]]
P = TypeVar("P")


class PreparedHandler(ABC, Generic[P]):
    """A handler in two steps; called as a plain `Handler`, it does both at once."""

    @abstractmethod
    def prepare(self, event: CloudEvent) -> P:
        """What `write` needs of `event` (pure: no I/O). May raise `MalformedPayload`."""

    @abstractmethod
    async def write(
        self, connection: AsyncConnection, prepared: Sequence[tuple[CloudEvent, P]]
    ) -> None:
        """Write the prepared events (new ones only, in bus order)."""

    async def __call__(self, connection: AsyncConnection, events: Sequence[CloudEvent]) -> None:
        await self.write(connection, [(event, self.prepare(event)) for event in events])


class Chained(PreparedHandler[tuple[Any, Any]]):
    """Two prepared handlers, one after the other, on the same events."""

    def __init__(self, first: PreparedHandler[Any], second: PreparedHandler[Any]) -> None:
        self.first = first
        self.second = second

    def prepare(self, event: CloudEvent) -> tuple[Any, Any]:
        return self.first.prepare(event), self.second.prepare(event)

    async def write(
        self, connection: AsyncConnection, prepared: Sequence[tuple[CloudEvent, tuple[Any, Any]]]
    ) -> None:
        await self.first.write(connection, [(event, items[0]) for event, items in prepared])
        await self.second.write(connection, [(event, items[1]) for event, items in prepared])


@dataclass
class HandlerRegistry:
    """Maps CloudEvent types to handlers."""

    _handlers: dict[str, Handler] = field(default_factory=dict)
    _synced: dict[str, Handler] = field(default_factory=dict)
    """Handlers of events published by a sync (`syncid` set), by type."""

    def register(self, event_types: Iterable[str], handler: Handler) -> None:
        """Route each of `event_types` to `handler`; a type has one handler."""
        for event_type in event_types:
            if event_type in self._handlers:
                raise ValueError(f"event type {event_type!r} already has a handler")
            self._handlers[event_type] = handler

    def register_synced(self, event_types: Iterable[str], handler: Handler) -> None:
        """Route each of `event_types`, when a sync published it, to `handler`."""
        for event_type in event_types:
            if event_type in self._synced:
                raise ValueError(f"synced event type {event_type!r} already has a handler")
            self._synced[event_type] = handler

    def chain(self, event_types: Iterable[str], handler: PreparedHandler[Any]) -> None:
        """Run `handler` after the handler each of `event_types` has (alone where none),
        in the same transaction; types that shared a handler share the chain too."""
        chains: dict[int, Handler] = {}
        for event_type in event_types:
            first = self._handlers.get(event_type)
            if first is None:
                self._handlers[event_type] = handler
            elif not isinstance(first, PreparedHandler):
                raise TypeError(f"the handler of {event_type!r} is not a PreparedHandler")
            else:
                chained = chains.setdefault(id(first), Chained(first, handler))
                self._handlers[event_type] = chained

    def handles(self, *event_types: str) -> Callable[[Handler], Handler]:
        """Decorator form of `register`."""

        def decorate(handler: Handler) -> Handler:
            self.register(event_types, handler)
            return handler

        return decorate

    def resolve(self, event_type: str, *, synced: bool = False) -> Handler | None:
        """The handler of `event_type` as a webhook's (or, `synced`, as a sync's) event;
        a type only syncs publish resolves to its sync handler either way."""
        if synced:
            return self._synced.get(event_type)
        return self._handlers.get(event_type) or self._synced.get(event_type)

    @property
    def event_types(self) -> frozenset[str]:
        return frozenset(self._handlers) | frozenset(self._synced)

    def route(
        self, events: Sequence[CloudEvent]
    ) -> tuple[list[tuple[Handler, list[CloudEvent]]], list[CloudEvent]]:
        """Group a batch by handler (in order of first appearance); return the unhandled too."""
        groups: dict[int, tuple[Handler, list[CloudEvent]]] = {}
        unhandled: list[CloudEvent] = []
        for event in events:
            if event.syncid is None:
                handler = self._handlers.get(event.type)
            else:
                handler = self._synced.get(event.type)
            if handler is None:
                unhandled.append(event)
                continue
            groups.setdefault(id(handler), (handler, []))[1].append(event)
        return list(groups.values()), unhandled
