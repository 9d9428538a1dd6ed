"""Opens the bus the settings ask for: the embedded spool, or Kafka backed by the spool.

In Kafka mode each worker process spools to a file of its own (a slot, see
`gateway.bus.spool_slots`), and its relay also drains the files of workers gone. The
embedded mode moves such files' records into its one spool when it opens.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from aiokafka.errors import KafkaError

from gateway.bus.durable_publisher import DurablePublisher
from gateway.bus.kafka_publisher import KafkaPublisher
from gateway.bus.publish import Publisher
from gateway.bus.relay import Relay
from gateway.bus.spool import Spool, SpoolPublisher, SpoolUnavailable
from gateway.bus.spool_slots import OrphanSlots, SpoolSlot, adopt_orphans, claim_slot
from gateway.bus.topics import ensure_hookgate_topics
from gateway.ingress.metrics import GatewayMetrics
from gateway.ingress.providers import PROVIDERS
from gateway.settings import Settings

log = logging.getLogger(__name__)

EMBEDDED_GROUP = "hookgate-embedded"
"""The consumer group of the in-process consumers on the embedded bus."""

KAFKA_CONNECT_WAIT_SECONDS = 5.0


@dataclass(frozen=True)
class Bus:
    publisher: Publisher
    spool: Spool
    durable: DurablePublisher | None = None
    """Set in Kafka mode: the publisher that falls back to the spool, with its relay."""


@contextlib.asynccontextmanager
async def open_bus(settings: Settings, metrics: GatewayMetrics) -> AsyncIterator[Bus]:
    if not settings.kafka_bootstrap_servers:
        async with Spool(settings.spool_path, consumer_groups=(EMBEDDED_GROUP,)) as spool:
            adopted = await adopt_orphans(spool, settings.spool_path)
            if adopted:
                log.warning(
                    "moved %d records left by Kafka-mode workers beside %s into the spool",
                    adopted,
                    settings.spool_path,
                )
            yield Bus(publisher=SpoolPublisher(spool), spool=spool)
        return
    slot = _claim_slot(settings.spool_path)
    try:
        async with Spool(slot.path) as spool:
            try:
                await ensure_hookgate_topics(settings, PROVIDERS)
            except (KafkaError, OSError) as exc:
                log.warning(
                    "could not ensure the Kafka topics at start (%s); continuing",
                    type(exc).__name__,
                )
            kafka = KafkaPublisher.from_settings(settings)
            await kafka.start(wait_seconds=KAFKA_CONNECT_WAIT_SECONDS)
            relay = Relay(spool, kafka, orphans=OrphanSlots(settings.spool_path, slot.number))
            try:
                async with DurablePublisher(kafka, spool, relay=relay) as durable:
                    yield Bus(publisher=durable, spool=spool, durable=durable)
            finally:
                await kafka.stop()
    finally:
        slot.release()


def _claim_slot(spool_path: Path) -> SpoolSlot:
    """This worker's spool slot (`gateway.bus.spool_slots`)."""
    try:
        slot = claim_slot(spool_path)
    except OSError as exc:
        raise SpoolUnavailable(
            f"The spool at {spool_path} could not be opened: no slot could be claimed ({exc})."
        ) from exc
    log.info("spooling to %s (slot %d) while Kafka is unreachable", slot.path, slot.number)
    return slot
