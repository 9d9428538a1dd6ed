"""Kafka first, the spool when Kafka cannot take the records in time.

A 2xx means durable: acknowledged by Kafka (acks=all) or synced to the spool. Once
Kafka failed, records go straight to the spool (no timeout paid per request) until
the relay has drained it: while the spool may hold records, new ones queue behind
them there, so no record overtakes an older one of its key in this process. (Each
worker process spools to a file of its own and relays it: across workers, as for
concurrent deliveries, order is not kept, and consumers apply order-insensitively.)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from gateway.bus.lifecycle import StartStop
from gateway.bus.publish import Publisher, PublishUnavailable
from gateway.bus.relay import Relay, RelaySpool, RelayStatus
from schemas import BusRecord

log = logging.getLogger(__name__)


class DurableSpool(RelaySpool, Protocol):
    """What the durable publisher needs of `gateway.bus.spool.Spool`."""

    async def append(self, records: Sequence[BusRecord]) -> list[int]: ...
    async def writable(self) -> bool: ...


@dataclass
class DurablePublisherStats:
    kafka_records: int = 0
    spooled_records: int = 0
    fallbacks: int = 0
    """Publishes that tried Kafka, failed and went to the spool."""


class DurablePublisher(StartStop):
    """`gateway.bus.publish.Publisher`: Kafka, or the spool; owns the relay that drains it.

    The caller opens and closes `kafka` and `spool`; `start()`/`stop()` run the relay.
    """

    def __init__(self, kafka: Publisher, spool: DurableSpool, *, relay: Relay | None = None):
        self.kafka = kafka
        self.spool = spool
        self.relay = relay or Relay(spool, kafka)
        self.stats = DurablePublisherStats()

    async def start(self) -> None:
        await self.relay.start()

    async def stop(self) -> None:
        await self.relay.stop()

    async def publish(self, records: Sequence[BusRecord]) -> None:
        if not records:
            return
        if not self.relay.backlog.present:
            try:
                await self.kafka.publish(records)
            except PublishUnavailable as exc:
                self.stats.fallbacks += 1
                log.warning("Kafka did not take the records (%s); spooling them.", exc)
            else:
                self.stats.kafka_records += len(records)
                return
        await self._spool(records)

    async def _spool(self, records: Sequence[BusRecord]) -> None:
        backlog = self.relay.backlog
        backlog.append_started()
        try:
            await self.spool.append(records)
        finally:
            backlog.append_finished()
            self.relay.wake()
        self.stats.spooled_records += len(records)

    async def ready(self) -> bool:
        """Either Kafka or the spool can take records now."""
        return await self.kafka.ready() or await self.spool.writable()

    async def status(self) -> RelayStatus:
        """Spool depth, oldest spooled record's age and Kafka's state, for readiness/metrics."""
        return await self.relay.status()
