"""`hookgate replay` applies a dead-lettered `google.calendar.changed`: it syncs the
calendar (against the Google emulator) as `hookgate consume` would have."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from consumers.dlq import DeadLetterProducer
from gateway.cli import build_parser
from gateway.store.secretbox import SecretBox
from gateway.store.sources import SourceRepository
from schemas import Delivery
from schemas import google as google_schema
from schemas.deadletter import DeadLetter
from schemas.google_store import google_channels
from schemas.store import appointments
from tests.fixtures.gateway import SECRET_KEYS, make_settings
from tests.fixtures.google import GoogleAccount
from tests.fixtures.kafka import create_topics
from tests.gateway import deliveries

CALENDAR = "team@example.com"  # the calendar `deliveries.google` notifies about


async def test_replay_syncs_the_calendar_of_a_dead_lettered_google_change(
    kafka_bootstrap: str,
    topic_prefix: str,
    postgres_url: str,
    postgres_engine: AsyncEngine,
    google_account: GoogleAccount,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    now = datetime.now(UTC)
    source = await SourceRepository(postgres_engine, SecretBox(SECRET_KEYS)).create(
        provider="google",
        tenant="acme",
        secret=None,
        credentials=google_account.credentials(),
        options=None,
        now=now,
    )
    await google_account.emulator.create_event(
        CALENDAR, summary="Planning", start=now + timedelta(days=1)
    )
    channel_id = str(uuid.uuid4())
    async with postgres_engine.begin() as connection:  # the channel the change came through
        await connection.execute(
            insert(google_channels).values(
                id=channel_id,
                source_id=source.id,
                calendar_id=CALENDAR,
                resource_id="ret08u3rv24htgh289g",
                state="active",
                expires_at=now + timedelta(days=7),
                created_at=now,
            )
        )
    signed = deliveries.google(now, source.id, channel_id=channel_id)
    headers = {name.lower(): value for name, value in signed.headers.items()}
    [change] = google_schema.normalize(
        Delivery("google", source.id, "acme", headers, b"", now)
    ).events
    dlq = f"{topic_prefix}.dlq"
    await create_topics(kafka_bootstrap, [dlq], partitions=1)
    producer = DeadLetterProducer(kafka_bootstrap, dlq)
    await producer.start()
    try:
        await producer.send(
            [
                DeadLetter(
                    topic=f"{topic_prefix}.google",
                    partition=0,
                    offset=0,
                    key=change.partitionkey.encode(),
                    value=change.data,
                    headers=tuple(change.kafka_headers()),
                    group=f"{topic_prefix}.store",
                    attempts=4,
                    error_class="OperationalError",
                    error="the store was down",
                )
            ]
        )
    finally:
        await producer.stop()
    settings = make_settings(
        tmp_path,
        database_url=postgres_url,
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=topic_prefix,
        google_api_base=google_account.api_base,
        google_token_url=google_account.token_url,
    )

    args = build_parser().parse_args(["replay"])
    assert await args.run(args, settings) == 0

    assert "1 replayed, 0 failed" in capsys.readouterr().out
    async with postgres_engine.connect() as connection:
        summaries = (
            await connection.execute(
                select(appointments.c.summary).where(appointments.c.calendar_id == CALENDAR)
            )
        ).scalars()
        assert list(summaries) == ["Planning"]
