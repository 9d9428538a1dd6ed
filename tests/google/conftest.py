"""A hookgate gateway wired to the Google emulator, with the Google sync consuming."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from consumers.apply import Applier
from consumers.google.sync import PublishChanges
from consumers.google.wiring import GoogleSync
from consumers.metrics import ConsumerMetrics
from consumers.stack import StackSettings, open_stack
from gateway.app import create_app
from gateway.google.channels import channel_manager
from gateway.google.routes import google_admin_routes
from gateway.google.writes import google_writes, write_routes
from gateway.runtime.credentials import RepositoryCredentialStore
from gateway.settings import Settings
from gateway.store.secretbox import SecretBox
from gateway.store.sources import SourceRecord, SourceRepository
from schemas import BusRecord
from schemas.store import appointments
from tests.emulators.google import GoogleEmulator
from tests.fixtures.google import GoogleAccount
from tests.fixtures.net import free_port, serve_on_loopback

SECRET_KEY = "test-secret-key-for-google-0123456789"
ADMIN_TOKEN = "admin-token-google"


class ApplyingPublisher:
    """A `Publisher` that applies each published batch at once (the bus is not under test)."""

    def __init__(self, applier: Applier) -> None:
        self.applier = applier
        self.published = 0

    async def publish(self, records: Sequence[BusRecord]) -> None:
        self.published += len(records)
        await self.applier.apply([record.to_event() for record in records])

    async def ready(self) -> bool:
        return True


@dataclass
class Harness:
    account: GoogleAccount
    engine: AsyncEngine
    sources: SourceRepository
    source: SourceRecord
    google: GoogleSync
    gateway: httpx.AsyncClient
    public_url: str
    publisher: ApplyingPublisher
    metrics: ConsumerMetrics

    @property
    def emulator(self) -> GoogleEmulator:
        return self.account.emulator

    async def settle(self) -> None:
        await self.google.scheduler.wait_idle()

    async def post_notification(self, address: str, headers: dict[str, str]) -> int:
        """POST a notification to the gateway (the emulator's `deliver`); its status."""
        response = await self.gateway.post(address, headers=headers, content=b"")
        return response.status_code

    async def store(self, calendar_id: str) -> dict[str, dict[str, Any]]:
        table = appointments.c
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                select(appointments).where(
                    table.tenant == self.source.tenant, table.calendar_id == calendar_id
                )
            )
            return {row.google_event_id: dict(row._mapping) for row in rows}

    async def assert_store_matches(self, calendar_id: str) -> None:
        """Live rows equal the emulator's live events; every other row is cancelled there."""
        rows = await self.store(calendar_id)
        live_rows = {
            event_id: row
            for event_id, row in rows.items()
            if row["status"] != "cancelled" and row["deleted_at"] is None
        }
        live = self.emulator.live_events(calendar_id)
        assert set(live_rows) == set(live)
        for event_id, event in live.items():
            row = live_rows[event_id]
            assert row["summary"] == event.summary
            assert row["etag"] == event.etag
            assert row["status"] == event.status
            assert _utc(row["start_time"]) == event.start
            assert _utc(row["end_time"]) == event.end
        everything = self.emulator.calendar(calendar_id).events
        for event_id in set(rows) - set(live_rows):
            assert event_id not in everything or everything[event_id].status == "cancelled"


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@asynccontextmanager
async def open_harness(
    account: GoogleAccount,
    engine: AsyncEngine,
    workdir: Path,
    *,
    tenant: str = "acme",
    secret_key: str = SECRET_KEY,
    page_size: int = 250,
    publish_changes: PublishChanges | None = None,
    **settings: Any,
) -> AsyncIterator[Harness]:
    """A new Google source of `tenant` on `account`, and a gateway serving on loopback
    (its admin API with the Google routes) whose webhooks apply straight into the
    store through the consumer stack, its Google sync wired to the emulator.

    `page_size`: the sync's (250 is the production one); `publish_changes`: where the
    sync publishes remote appointment changes; `settings`: more `Settings` fields
    (files go in `workdir`).
    """
    sources = SourceRepository(engine, SecretBox([secret_key]))
    source = await sources.create(
        provider="google",
        tenant=tenant,
        secret=None,
        credentials=account.credentials(),
        options=None,
        now=datetime.now(UTC),
    )
    port = free_port()
    public_url = f"http://127.0.0.1:{port}"
    config = Settings(
        secret_keys=(SecretStr(secret_key),),
        admin_token=SecretStr(ADMIN_TOKEN),
        public_url=public_url,
        spool_path=workdir / "spool.db",
        dev_key_path=workdir / "dev.key",
        google_api_base=account.api_base,
        google_token_url=account.token_url,
        **settings,
    )
    stack_settings = StackSettings(
        google_api_base=config.google_api_base,
        google_token_url=config.google_token_url,
        google_page_size=page_size,
    )
    async with open_stack(
        engine,
        RepositoryCredentialStore(sources),
        stack_settings,
        publish_changes=publish_changes,
    ) as stack:
        publisher = ApplyingPublisher(stack.applier)
        google = stack.google
        app = create_app(
            config,
            publisher=publisher,
            engine=engine,
            admin_routes=[
                lambda context: google_admin_routes(
                    channel_manager(context, google.client_for),
                    write_back=google_writes(context).write_back_local,
                ),
                write_routes,
            ],
            on_source_remove=[
                lambda context: channel_manager(context, google.client_for).on_source_removed
            ],
        )
        async with (
            serve_on_loopback(app, port=port, lifespan="on") as base,
            httpx.AsyncClient(base_url=base, timeout=30) as gateway,
        ):
            yield Harness(
                account,
                engine,
                sources,
                source,
                google,
                gateway,
                public_url,
                publisher,
                stack.metrics,
            )


@pytest_asyncio.fixture
async def harness(
    google_account: GoogleAccount,
    engine: AsyncEngine,
    tmp_path: Path,
) -> AsyncIterator[Harness]:
    """`open_harness` with pages of 7 events, the emulator's notifications delivered
    through the gateway."""
    async with open_harness(
        google_account, engine, tmp_path, page_size=7, source_cache_seconds=0.0
    ) as opened:
        google_account.emulator.deliver = opened.post_notification
        yield opened
