"""A verified delivery through the gateway, onto its topic, applied by `hookgate consume`."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.app import create_app
from gateway.bus.durable_publisher import DurablePublisher
from gateway.bus.kafka_publisher import KafkaPublisher
from gateway.bus.spool import Spool
from gateway.bus.topics import ensure_hookgate_topics
from gateway.settings import Settings
from tests.fixtures.gateway import FrozenClock, make_settings, running_gateway
from tests.fixtures.net import free_port
from tests.gateway import deliveries
from tests.kafka.consuming import eventually
from tests.kafka.helpers import read_topic

ROOT = Path(__file__).resolve().parents[2]
CONSUME = (
    "import argparse, asyncio, sys\n"
    "from gateway.commands import consume\n"
    "from gateway.settings import Settings\n"
    "parser = argparse.ArgumentParser()\n"
    "consume.add_parser(parser.add_subparsers(dest='command'))\n"
    "args = parser.parse_args(sys.argv[1:])\n"
    "sys.exit(asyncio.run(args.run(args, Settings())))\n"
)


async def test_delivery_reaches_topic_and_store(
    kafka_bootstrap: str, topic_prefix: str, postgres_url: str, tmp_path: Path
) -> None:
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    settings: Settings = make_settings(
        tmp_path,
        database_url=postgres_url,
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=topic_prefix,
    )
    await ensure_hookgate_topics(settings, ["calendly"])
    kafka = KafkaPublisher.from_settings(settings)
    await kafka.start(wait_seconds=10)
    async with (
        Spool(settings.spool_path) as spool,
        DurablePublisher(kafka, spool) as durable,
        running_gateway(settings, lambda s: create_app(s, publisher=durable, clock=clock)) as gw,
    ):
        source = await gw.add_source("calendly", tenant="acme", secret=deliveries.CALENDLY_KEY)
        signed = deliveries.calendly(clock.now)
        response = await gw.client.post(
            f"/webhooks/calendly/{source['id']}", content=signed.body, headers=signed.headers
        )
        assert response.status_code == 200, response.text
        event_id = response.json()["id"]
    await kafka.stop()
    assert durable.stats.kafka_records == 1
    assert durable.stats.spooled_records == 0

    [record] = await read_topic(kafka_bootstrap, settings.topic("calendly"), expected=1)
    headers = dict(record.headers)
    assert headers["ce_id"] == event_id.encode()
    assert headers["ce_type"] == b"calendly.invitee.created"
    assert headers["ce_tenant"] == b"acme"
    assert record.key is not None
    assert record.key.startswith(b"acme:")
    assert record.value == signed.body

    env = {
        **os.environ,
        "HOOKGATE_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "HOOKGATE_DATABASE_URL": postgres_url,
        "HOOKGATE_TOPIC_PREFIX": topic_prefix,
        "HOOKGATE_METRICS_PORT": str(metrics_port := free_port()),
    }
    consumer = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CONSUME,
        "consume",
        "--session-timeout-ms",
        "6000",
        cwd=ROOT,
        env=env,
        stderr=asyncio.subprocess.DEVNULL,
    )
    engine = create_async_engine(postgres_url)
    invitee = orjson.loads(signed.body)["payload"]["uri"]

    async def booked() -> bool:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT tenant, status FROM bookings WHERE invitee_uri = :uri"),
                {"uri": invitee},
            )
            return rows.all() == [("acme", "active")]

    try:
        await eventually(booked, timeout=60, what="the booking row")
        async with httpx.AsyncClient() as client:
            scraped = (await client.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
        assert 'hookgate_events_applied_total{type="calendly.invitee.created"} 1.0' in scraped
        assert f'topic="{topic_prefix}.google"' in scraped  # the Google handler is wired
    finally:
        consumer.send_signal(signal.SIGTERM)
        exit_code = await asyncio.wait_for(consumer.wait(), 30)
        await engine.dispose()
    assert exit_code == 0
