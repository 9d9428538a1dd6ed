"""Compose the Google sync from injected dependencies (no gateway import)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from consumers.google.client import GoogleCalendarClient, RetryPolicy
from consumers.google.credentials import CredentialStore
from consumers.google.handler import CALENDAR_CHANGED, google_calendar_handler, resume_pending
from consumers.google.outbox import WriteOutbox
from consumers.google.resync import resync_forever
from consumers.google.scheduler import DEFAULT_MAX_RUNNING, SyncScheduler
from consumers.google.sync import CalendarSync, PublishChanges, SyncResult
from consumers.google.writer import ConflictPolicy, GoogleWriter, WriteListeners
from consumers.registry import Handler, HandlerRegistry


@dataclass
class GoogleSync:
    """The Google side of the consumers: clients per source, sync, scheduler, handler."""

    engine: AsyncEngine
    scheduler: SyncScheduler
    sync: CalendarSync
    handler: Handler
    client_for: Callable[[str], GoogleCalendarClient]
    writer: GoogleWriter
    clients: dict[str, GoogleCalendarClient] = field(default_factory=dict)
    refresh_failure_listeners: list[Callable[[str], None]] = field(default_factory=list)
    """Called with the reason whenever a source's token refresh fails (for metrics)."""
    run_listeners: list[Callable[[str, SyncResult], None]] = field(default_factory=list)
    """Called with the trigger and the result of every completed sync run (for metrics)."""

    def register(self, registry: HandlerRegistry) -> None:
        registry.register([CALENDAR_CHANGED], self.handler)

    async def start(self) -> int:
        """Resume calendars that still owe a sync; returns how many."""
        return await resume_pending(self.engine, self.scheduler)

    async def resync_forever(self, every_seconds: float) -> None:
        """Sync each watched calendar not synced for `every_seconds`, until cancelled
        (`consumers.google.resync`: the safety net for lost notifications)."""
        await resync_forever(self.engine, self.scheduler, every_seconds=every_seconds)

    async def write_forever(self, poll_seconds: float) -> None:
        """Run the write outbox every `poll_seconds`, until cancelled."""
        await self.writer.run_forever(poll_seconds)

    async def aclose(self) -> None:
        await self.scheduler.aclose()


def build_google_sync(
    engine: AsyncEngine,
    credentials: CredentialStore,
    http: httpx.AsyncClient,
    *,
    api_base: str,
    token_url: str,
    retry: RetryPolicy | None = None,
    quiet_seconds: float = 1.0,
    page_size: int = 250,
    max_running_syncs: int = DEFAULT_MAX_RUNNING,
    conflict_policy: ConflictPolicy = "remote_wins",
    publish_changes: PublishChanges | None = None,
) -> GoogleSync:
    """Everything `google.calendar.changed` needs; `http` is owned by the caller.
    `publish_changes`: where remote appointment changes go (None: nowhere)."""
    clients: dict[str, GoogleCalendarClient] = {}
    listeners: list[Callable[[str], None]] = []
    run_listeners: list[Callable[[str, SyncResult], None]] = []

    def report(reason: str) -> None:
        for listener in listeners:
            listener(reason)

    def report_run(trigger: str, result: SyncResult) -> None:
        for listener in run_listeners:
            listener(trigger, result)

    def client_for(source_id: str) -> GoogleCalendarClient:
        client = clients.get(source_id)
        if client is None:
            client = GoogleCalendarClient(
                http,
                credentials,
                source_id,
                api_base=api_base,
                token_url=token_url,
                retry=retry,
                on_refresh_failure=report,
            )
            clients[source_id] = client
        return client

    sync = CalendarSync(engine, client_for, page_size=page_size, publish=publish_changes)
    scheduler = SyncScheduler(
        sync.run, on_run=report_run, quiet_seconds=quiet_seconds, max_running=max_running_syncs
    )
    return GoogleSync(
        engine=engine,
        scheduler=scheduler,
        sync=sync,
        handler=google_calendar_handler(scheduler),
        client_for=client_for,
        writer=GoogleWriter(
            engine,
            client_for,
            WriteOutbox(engine),
            policy=conflict_policy,
            listeners=WriteListeners(),
        ),
        clients=clients,
        refresh_failure_listeners=listeners,
        run_listeners=run_listeners,
    )
