"""The consumer's own listener: /metrics and /healthz, nothing else."""

from __future__ import annotations

import asyncio

import httpx
from prometheus_client import CollectorRegistry, Counter

from gateway.runtime.metrics_server import serve_metrics


async def test_metrics_and_health_are_served_and_other_paths_are_not() -> None:
    registry = CollectorRegistry()
    Counter("hookgate_test_things_total", "Things.", registry=registry).inc(3)
    healthy = [True]
    async with (
        serve_metrics(registry, host="127.0.0.1", port=0, healthy=lambda: healthy[0]) as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client,
    ):
        metrics = await client.get("/metrics")
        health = await client.get("/healthz")
        missing = await client.get("/admin")
        posted = await client.post("/metrics")
        healthy[0] = False
        down = await client.get("/healthz")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert "hookgate_test_things_total 3.0" in metrics.text
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert missing.status_code == 404
    assert posted.status_code == 405
    assert down.status_code == 503


async def test_a_request_that_is_not_http_gets_400() -> None:
    async with serve_metrics(CollectorRegistry(), host="127.0.0.1", port=0) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GARBAGE\r\n\r\n")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 5)
        writer.close()
    assert answer.startswith(b"HTTP/1.1 400")
