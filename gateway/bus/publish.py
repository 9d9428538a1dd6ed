"""The publishing contract between the webhook endpoint and the bus.

`publish` returns only once every record is durable: acknowledged by Kafka with
acks=all, or synced to the local spool. It raises `PublishUnavailable` when
neither could take them; the endpoint then answers with the provider's retry
status and publishes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from schemas import BusRecord


class PublishUnavailable(Exception):
    """No durable place could take the event right now; the provider should retry."""

    retriable = True


class Publisher(Protocol):
    """Makes records durable on the bus."""

    async def publish(self, records: Sequence[BusRecord]) -> None:
        """Return when all `records` are durable, or raise `PublishUnavailable`."""
        ...

    async def ready(self) -> bool:
        """True when publishing can currently succeed."""
        ...
