"""Opens the bus the settings ask for: the embedded spool, or Kafka backed by the spool."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from gateway.metrics import GatewayMetrics
from gateway.publish import Publisher
from gateway.settings import Settings
from gateway.spool import Spool, SpoolPublisher

EMBEDDED_GROUP = "hookgate-embedded"
"""The consumer group of the in-process consumers on the embedded bus."""


@dataclass(frozen=True)
class Bus:
    publisher: Publisher
    spool: Spool


@contextlib.asynccontextmanager
async def open_bus(settings: Settings, metrics: GatewayMetrics) -> AsyncIterator[Bus]:
    async with Spool(settings.spool_path, consumer_groups=(EMBEDDED_GROUP,)) as spool:
        yield Bus(publisher=SpoolPublisher(spool), spool=spool)
