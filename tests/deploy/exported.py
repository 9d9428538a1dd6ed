"""Every metric name hookgate exports, read from real scrapes (gateway app and consumer)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from prometheus_client import CollectorRegistry, generate_latest

from consumers.imports.metrics import ImportMetrics
from consumers.metrics import ConsumerMetrics
from consumers.providers import IMPORTERS, build_registry
from gateway.app import create_app
from gateway.runtime.poller import metrics_poller
from tests.fixtures.gateway import make_settings

_TYPE_LINE = re.compile(r"^# TYPE (\S+) (\S+)$", re.MULTILINE)
_SUFFIXES = {
    "counter": ("", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
}


def names_in(exposition: str) -> set[str]:
    """Sample names a query may use, from the `# TYPE` lines (families with no samples yet
    count too: a labelled metric has none until its first observation)."""
    names = set()
    for family, kind in _TYPE_LINE.findall(exposition):
        base = family.removesuffix("_total") if kind == "counter" else family
        if kind == "counter":
            names |= {f"{base}_total", f"{base}_created"}
        else:
            names |= {family + suffix for suffix in _SUFFIXES.get(kind, ("",))}
    return names


async def gateway_scrape(tmp: Path) -> str:
    """GET /metrics of a gateway app built as `serve` builds it, with its metrics poller."""
    app = create_app(make_settings(tmp), background=[metrics_poller])
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        response = await client.get("/metrics")
    response.raise_for_status()
    return response.text


def consumer_scrape() -> str:
    registry = CollectorRegistry()
    metrics = ConsumerMetrics(registry, event_types=build_registry().event_types)
    metrics.next_expiry.expires_at = datetime.now(UTC) + timedelta(days=1)
    ImportMetrics(registry, IMPORTERS)  # the sync runner's, on the serving process's registry
    return generate_latest(registry).decode()


async def exported_names(tmp: Path) -> set[str]:
    return names_in(await gateway_scrape(tmp)) | names_in(consumer_scrape())
