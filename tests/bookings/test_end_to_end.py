"""A booking end to end with Kafka: the served app takes the admin calls and the signed
webhooks, `hookgate consume` applies them, and the state changes come back on
`{prefix}.bookings`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import orjson

from gateway.runtime.serve import build_app
from schemas import CloudEvent
from tests.bookings.served import book_and_check_out, booking_world, schedule, state_becomes
from tests.emulators.suite import ProviderEmulators
from tests.fixtures.gateway import running_gateway
from tests.gateway.connecting import connect_settings
from tests.kafka.consume_cli import consume_env, consuming
from tests.kafka.helpers import read_topic


async def _invitee_joined(admin: httpx.AsyncClient, booking_id: str) -> None:
    async with asyncio.timeout(60):
        while True:
            body: dict[str, Any] = (await admin.get(f"/admin/bookings/{booking_id}")).json()
            if body.get("invitee_uri"):
                return
            await asyncio.sleep(0.1)


async def test_intent_invitee_checkout_paid_is_confirmed_on_the_bus(
    tmp_path: Path,
    providers: ProviderEmulators,
    kafka_bootstrap: str,
    topic_prefix: str,
    postgres_url: str,
) -> None:
    settings = connect_settings(
        tmp_path,
        providers,
        database_url=postgres_url,
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=topic_prefix,
    )
    env = consume_env(kafka_bootstrap, postgres_url, topic_prefix)
    async with (
        running_gateway(settings, build_app) as gateway,
        consuming("bookings", env, tmp_path, "--session-timeout-ms", "6000") as worker,
    ):
        world = await booking_world(providers, gateway)
        booking_id, session_id = await book_and_check_out(gateway.admin, world)
        await schedule(providers, world, booking_id)
        await _invitee_joined(gateway.admin, booking_id)
        await providers.stripe.complete_checkout_session(session_id)
        await state_becomes(gateway.admin, booking_id, "confirmed", timeout=60)
        records = await read_topic(kafka_bootstrap, settings.topic("bookings"), expected=3)
        assert await worker.terminate() == 0, worker.log_tail()

    events = [CloudEvent.from_kafka(r.headers, r.key, r.value) for r in records]
    assert {event.type for event in events} == {"hookgate.booking.state_changed"}
    assert [(e.data_json()["from"], e.data_json()["to"]) for e in events] == [
        (None, "initiated"),
        ("initiated", "payment_pending"),
        ("payment_pending", "confirmed"),
    ]
    assert {event.subject for event in events} == {booking_id}
    paid = orjson.loads(records[-1].value)["cause_event_id"]
    assert paid.startswith("evt_")
