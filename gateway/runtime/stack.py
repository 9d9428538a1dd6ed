"""The consumer stack as the runtime opens it, from the settings."""

from __future__ import annotations

import contextlib

from sqlalchemy.ext.asyncio import AsyncEngine

from consumers.stack import ConsumerStack, StackSettings, open_stack
from gateway.runtime.credentials import RepositoryCredentialStore
from gateway.settings import Settings
from gateway.store.secretbox import secretbox_from
from gateway.store.sources import SourceRepository


def stack_settings(settings: Settings) -> StackSettings:
    """What the consumer side takes of the settings."""
    return StackSettings(
        google_api_base=settings.google_api_base,
        google_token_url=settings.google_token_url,
        google_sync_concurrency=settings.google_sync_concurrency,
        google_resync_seconds=settings.google_resync_seconds,
        audit_retention_days=settings.audit_retention_days,
    )


def open_consumer_stack(
    settings: Settings, engine: AsyncEngine
) -> contextlib.AbstractAsyncContextManager[ConsumerStack]:
    """A command's consumer stack (`consume`, `replay`): a Google sync of its own, the
    credentials read from the store."""
    credentials = RepositoryCredentialStore(SourceRepository(engine, secretbox_from(settings)))
    return open_stack(engine, credentials, stack_settings(settings))
