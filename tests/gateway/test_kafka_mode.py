"""The gateway built from settings with Kafka: deliveries land on their topic, durably."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from gateway.app import create_app
from tests.fixtures.gateway import make_settings, running_gateway
from tests.gateway import deliveries
from tests.kafka.helpers import read_topic


async def test_serve_with_kafka_publishes_to_the_provider_topic(
    tmp_path: Path, kafka_bootstrap: str, topic_prefix: str
) -> None:
    settings = make_settings(
        tmp_path,
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=topic_prefix,
        kafka_topic_partitions=2,
    )
    now = datetime.now(UTC)
    async with running_gateway(settings, create_app) as gateway:
        source = await gateway.add_source("calendly", tenant="acme", secret=deliveries.CALENDLY_KEY)
        signed = deliveries.calendly(now)
        response = await gateway.client.post(
            f"/webhooks/calendly/{source['id']}", content=signed.body, headers=signed.headers
        )
        assert response.status_code == 200, response.text
        ready = await gateway.client.get("/readyz")
        assert ready.json()["bus"] == "ok"
        spool = gateway.app.state.context.bus.spool
        assert await spool.depth() == 0  # Kafka took it; nothing was spooled
    [record] = await read_topic(kafka_bootstrap, f"{topic_prefix}.calendly", expected=1)
    headers = {name: value.decode() for name, value in record.headers}
    assert headers["ce_id"] == response.json()["id"]
    assert headers["ce_type"] == "calendly.invitee.created"
    assert headers["ce_tenant"] == "acme"
    assert record.value == signed.body
    assert record.key is not None
    assert record.key.decode().startswith("acme:https://api.calendly.com/")
