"""Opens the bus the settings ask for: the embedded spool, or Kafka backed by the spool."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiokafka.errors import KafkaError

from gateway.durable_publisher import DurablePublisher
from gateway.kafka_publisher import KafkaPublisher
from gateway.metrics import GatewayMetrics
from gateway.providers import PROVIDERS
from gateway.publish import Publisher
from gateway.settings import Settings
from gateway.spool import Spool, SpoolPublisher
from gateway.topics import ensure_hookgate_topics

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
            yield Bus(publisher=SpoolPublisher(spool), spool=spool)
        return
    async with Spool(settings.spool_path) as spool:
        try:
            await ensure_hookgate_topics(settings, PROVIDERS)
        except (KafkaError, OSError) as exc:
            log.warning(
                "could not ensure the Kafka topics at start (%s); continuing", type(exc).__name__
            )
        kafka = KafkaPublisher.from_settings(settings)
        await kafka.start(wait_seconds=KAFKA_CONNECT_WAIT_SECONDS)
        try:
            async with DurablePublisher(kafka, spool) as durable:
                yield Bus(publisher=durable, spool=spool, durable=durable)
        finally:
            await kafka.stop()
