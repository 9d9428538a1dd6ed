"""`/admin/dead-letters` with Kafka: the dead letters are on the DLQ topic, not here."""

from __future__ import annotations

from pathlib import Path

from gateway.runtime.serve import build_app
from tests.fixtures.gateway import make_settings, running_gateway


async def test_with_kafka_the_routes_point_at_hookgate_replay(
    tmp_path: Path, kafka_bootstrap: str, topic_prefix: str
) -> None:
    settings = make_settings(
        tmp_path, kafka_bootstrap_servers=kafka_bootstrap, topic_prefix=topic_prefix
    )
    async with running_gateway(settings, build_app) as gateway:
        for answer in (
            await gateway.admin.get("/admin/dead-letters"),
            await gateway.admin.post("/admin/dead-letters/1/replay"),
        ):
            assert answer.status_code == 409
            assert answer.json()["error"] == "dead_letters_on_kafka"
            assert f"{topic_prefix}.dlq" in answer.json()["detail"]
