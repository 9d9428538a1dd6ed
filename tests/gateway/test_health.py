"""Health, readiness and metrics endpoints."""

from __future__ import annotations

from pathlib import Path

from gateway.app import create_app
from tests.fixtures.gateway import RunningGateway, make_settings, running_gateway


async def test_healthz_and_readyz(gateway: RunningGateway) -> None:
    assert (await gateway.client.get("/healthz")).json() == {"status": "ok"}
    ready = await gateway.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "store": "ok", "bus": "ok"}


async def test_readyz_reports_an_unreachable_store(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, database_url="postgresql+asyncpg://postgres@127.0.0.1:1/none"
    )
    async with running_gateway(settings, create_app, migrate=False) as running:
        ready = await running.client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["store"] == "unreachable"
    assert ready.json()["bus"] == "ok"


async def test_metrics_are_prometheus_text(gateway: RunningGateway) -> None:
    response = await gateway.client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    assert "# TYPE hookgate_deliveries_total counter" in response.text
    assert "# TYPE hookgate_ingress_request_duration_seconds histogram" in response.text
