"""What the store says of a source besides its secrets reaches the ingress through the
cache: a disconnected source's deliveries are refused (403), and a Google channel
opened by another process is known at the first notification that names it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from gateway.app import create_app
from schemas.google_store import google_channels
from tests.fixtures.gateway import FrozenClock, RunningGateway, make_settings, running_gateway
from tests.gateway import deliveries
from tests.gateway.test_webhooks import GOOGLE_CREDENTIALS, published


async def test_a_disconnected_sources_deliveries_are_refused_and_an_erring_ones_taken(
    gateway: RunningGateway, clock: FrozenClock
) -> None:
    """`error` means the provider's API refused us (a pull), not that its webhooks are
    forged: a source in error still takes verified deliveries."""
    context = gateway.app.state.context
    source = (await gateway.add_source("calendly", tenant="acme", secret=deliveries.CALENDLY_KEY))[
        "id"
    ]
    answers = {}
    for status in ("disconnected", "error"):
        await context.sources.set_status(source, status, None)
        context.cache.invalidate(source)
        signed = deliveries.calendly(clock.now)
        answers[status] = await gateway.client.post(
            f"/webhooks/calendly/{source}", content=signed.body, headers=signed.headers
        )
    refused = answers["disconnected"]
    assert refused.status_code == 403
    assert refused.json()["error"] == "source_disconnected"
    assert answers["error"].status_code == 200
    assert len(await published(gateway)) == 1


async def test_a_channel_opened_by_another_process_is_read_at_its_first_notification(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, source_cache_seconds=60)
    clock = FrozenClock(datetime.now(UTC))
    async with running_gateway(settings, lambda s: create_app(s, clock=clock)) as gateway:
        source = (
            await gateway.add_source("google", tenant="acme", credentials=GOOGLE_CREDENTIALS)
        )["id"]
        first = deliveries.google(clock.now, source)  # no such channel: nothing published
        assert (
            await gateway.client.post(f"/webhooks/google/{source}", headers=first.headers)
        ).status_code == 200
        channel = str(uuid.uuid4())
        async with gateway.app.state.context.engine.begin() as connection:  # another worker
            await connection.execute(
                insert(google_channels).values(
                    id=channel,
                    source_id=source,
                    calendar_id="team@example.com",
                    state="active",
                    expires_at=clock.now + timedelta(days=7),
                    created_at=clock.now,
                )
            )
        await asyncio.sleep(1.1)  # a source is read again at most once a second
        signed = deliveries.google(clock.now, source, channel_id=channel)
        response = await gateway.client.post(f"/webhooks/google/{source}", headers=signed.headers)
        records = await published(gateway)
    assert response.status_code == 200
    assert [record.to_event().subject for record in records] == ["team@example.com"]
