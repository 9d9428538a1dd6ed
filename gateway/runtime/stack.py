"""The consumer stack as the runtime opens it, from the settings."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

from sqlalchemy.ext.asyncio import AsyncEngine

from consumers.google.sync import PublishChanges
from consumers.stack import ConsumerStack, StackSettings, open_stack
from gateway.bus.kafka_publisher import KafkaPublisher
from gateway.runtime.credentials import RepositoryCredentialStore
from gateway.settings import Settings
from gateway.store.secretbox import secretbox_from
from gateway.store.sources import SourceRepository
from schemas import BusRecord, CloudEvent
from schemas.google import APPOINTMENTS_TOPIC


def stack_settings(settings: Settings) -> StackSettings:
    """What the consumer side takes of the settings."""
    return StackSettings(
        google_api_base=settings.google_api_base,
        google_token_url=settings.google_token_url,
        google_sync_concurrency=settings.google_sync_concurrency,
        google_resync_seconds=settings.google_resync_seconds,
        audit_retention_days=settings.audit_retention_days,
        google_conflict_policy=settings.google_conflict_policy,
        google_write_poll_seconds=settings.google_write_poll_seconds,
    )


def open_consumer_stack(
    settings: Settings, engine: AsyncEngine, *, publish_changes: PublishChanges | None = None
) -> contextlib.AbstractAsyncContextManager[ConsumerStack]:
    """A command's consumer stack (`consume`, `replay`): a Google sync of its own, the
    credentials read from the store."""
    credentials = RepositoryCredentialStore(SourceRepository(engine, secretbox_from(settings)))
    return open_stack(
        engine, credentials, stack_settings(settings), publish_changes=publish_changes
    )


@contextlib.asynccontextmanager
async def appointment_changes(settings: Settings) -> AsyncIterator[PublishChanges | None]:
    """Publishes remote Google appointment changes on `{prefix}.appointments` (Kafka);
    None without Kafka (the embedded default publishes none)."""
    if not settings.kafka_bootstrap_servers:
        yield None
        return
    topic = settings.topic(APPOINTMENTS_TOPIC)
    async with KafkaPublisher.from_settings(settings, client_id="hookgate-consumer") as kafka:

        async def publish(events: Sequence[CloudEvent]) -> None:
            await kafka.publish([BusRecord.from_event(event, topic) for event in events])

        yield publish
