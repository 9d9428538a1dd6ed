"""`hookgate consume` (Kafka mode) runs the Google write outbox too."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.google.writes import GoogleWrites
from gateway.store.secretbox import SecretBox
from gateway.store.sources import SourceRepository
from schemas.google_store import google_writes
from tests.fixtures.google import GoogleAccount
from tests.google.test_writes import EVENT
from tests.kafka.consume_cli import consume_env, consuming
from tests.kafka.consuming import eventually

SECRET_KEY = "consume-test-key-0123456789abcdef"
CALENDAR = "team@example.com"


async def test_consume_runs_a_write_the_gateway_accepted(
    google_account: GoogleAccount,
    postgres_engine: AsyncEngine,
    postgres_url: str,
    kafka_bootstrap: str,
    topic_prefix: str,
    tmp_path: Path,
) -> None:
    sources = SourceRepository(postgres_engine, SecretBox([SECRET_KEY]))
    source = await sources.create(
        provider="google",
        tenant="acme",
        secret=None,
        credentials=google_account.credentials(),
        options=None,
        now=datetime.now(UTC),
    )
    writes = GoogleWrites(postgres_engine, sources, lambda: datetime.now(UTC))
    write_id = await writes.accept(source.id, "insert", CALENDAR, "abcde12345", EVENT, None)
    env = consume_env(kafka_bootstrap, postgres_url, topic_prefix) | {
        "HOOKGATE_SECRET_KEYS": SECRET_KEY,
        "HOOKGATE_GOOGLE_API_BASE": google_account.api_base,
        "HOOKGATE_GOOGLE_TOKEN_URL": google_account.token_url,
        "HOOKGATE_GOOGLE_WRITE_POLL_SECONDS": "0.2",
    }
    started = time.monotonic()

    async with consuming("consume", env, tmp_path, "--provider", "google") as worker:

        async def written() -> bool:
            async with postgres_engine.connect() as connection:
                status = (
                    await connection.execute(
                        select(google_writes.c.status).where(google_writes.c.id == write_id)
                    )
                ).scalar_one()
            assert worker.process.returncode is None, worker.log_tail()
            return bool(status == "done")

        await eventually(written, timeout=30, what="hookgate consume to run the write")
        await worker.terminate()

    assert list(google_account.emulator.live_events(CALENDAR)) == ["abcde12345"]
    print(f"\nconsume ran the write {time.monotonic() - started:.1f} s after it started")
