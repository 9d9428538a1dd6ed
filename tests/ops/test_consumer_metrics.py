"""Consumer metrics: the apply path, the store's state, the runner's counters."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from consumers.apply import Applier, ApplyResult
from consumers.kafka_runner import KafkaRunnerStats
from consumers.metrics import ConsumerMetrics, RunnerStatsPoller, StoreStatePoller
from consumers.providers import build_registry
from gateway.ingress.metrics import GatewayMetrics
from gateway.ingress.providers import PROVIDERS
from schemas import CloudEvent
from schemas.google_store import google_channels, google_sync_state
from schemas.tables import sources
from tests.store import events
from tests.store.events import T0, at

NOW = T0 + timedelta(seconds=90)


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def _metrics(registry: CollectorRegistry) -> ConsumerMetrics:
    return ConsumerMetrics(registry, event_types=build_registry().event_types, clock=lambda: NOW)


async def test_applied_events_are_counted_by_type_with_their_freshness(
    engine: AsyncEngine,
) -> None:
    registry = CollectorRegistry()
    metrics = _metrics(registry)
    applier = Applier(engine, build_registry(), metrics=metrics)
    apply = metrics.instrument(applier.apply)
    created = events.calendly("t", "invitee.created", at(0))
    unknown = created.model_copy(update={"id": "other-1", "type": "calendly.mystery.created"})

    result = await apply([created, created, unknown])

    assert isinstance(result, ApplyResult)
    assert value(registry, "hookgate_events_applied_total", type="calendly.invitee.created") == 2
    assert value(registry, "hookgate_events_applied_total", type="other") == 1
    assert value(registry, "hookgate_events_duplicate_total") == 1
    assert value(registry, "hookgate_events_unhandled_total", type="other") == 1
    assert value(registry, "hookgate_apply_duration_seconds_count") == 1
    assert value(registry, "hookgate_event_freshness_seconds_count", provider="calendly") == 3
    assert value(registry, "hookgate_event_freshness_seconds_sum", provider="calendly") == 270
    assert (
        value(registry, "hookgate_event_freshness_seconds_bucket", provider="calendly", le="60.0")
        == 0
    )
    assert (
        value(registry, "hookgate_event_freshness_seconds_bucket", provider="calendly", le="300.0")
        == 3
    )


async def test_a_failed_apply_counts_its_events_as_failed_and_reraises() -> None:
    registry = CollectorRegistry()
    metrics = _metrics(registry)

    async def broken(batch: Sequence[CloudEvent]) -> None:
        raise RuntimeError("the store said no")

    event = events.calendly("t", "invitee.canceled", at(0))
    with pytest.raises(RuntimeError):
        await metrics.instrument(broken)([event])
    assert value(registry, "hookgate_events_failed_total", type="calendly.invitee.canceled") == 1
    assert (
        value(registry, "hookgate_events_applied_total", type="calendly.invitee.canceled") is None
    )
    assert value(registry, "hookgate_event_freshness_seconds_count", provider="calendly") is None


def _source(source_id: str, provider: str, status: str) -> dict[str, object]:
    return {
        "id": source_id,
        "provider": provider,
        "tenant": "acme",
        "status": status,
        "created_at": T0,
        "updated_at": T0,
    }


def _channel(channel_id: str, state: str, expires_in: timedelta) -> dict[str, object]:
    return {
        "id": channel_id,
        "source_id": "src-g",
        "calendar_id": "primary",
        "state": state,
        "expires_at": datetime.now(UTC) + expires_in,
        "created_at": T0,
    }


async def test_the_store_poller_counts_sources_channels_and_the_next_expiry(
    engine: AsyncEngine,
) -> None:
    registry = CollectorRegistry()
    metrics = ConsumerMetrics(registry, providers=PROVIDERS)
    poller = StoreStatePoller(engine, metrics)
    await poller.poll()
    assert value(registry, "hookgate_google_channel_next_expiry_seconds") is None

    async with engine.begin() as connection:
        await connection.execute(
            insert(sources),
            [
                _source("src-c1", "calendly", "active"),
                _source("src-c2", "calendly", "active"),
                _source("src-g", "google", "error"),
            ],
        )
        await connection.execute(
            insert(google_channels),
            [
                _channel("ch-soon", "active", timedelta(hours=3)),
                _channel("ch-later", "active", timedelta(days=6)),
                _channel("ch-old", "stopped", timedelta(hours=-1)),
            ],
        )
        await connection.execute(
            insert(google_sync_state),
            [{"source_id": "src-g", "calendar_id": "primary", "tenant": "acme", "status": "error"}],
        )
    await poller.poll()

    assert value(registry, "hookgate_sources", provider="calendly", status="active") == 2
    assert value(registry, "hookgate_sources", provider="google", status="error") == 1
    assert value(registry, "hookgate_google_channels", state="active") == 2
    assert value(registry, "hookgate_google_channels", state="stopped") == 1
    assert value(registry, "hookgate_google_calendars", status="error") == 1
    expiry = value(registry, "hookgate_google_channel_next_expiry_seconds")
    assert expiry is not None
    assert 3 * 3600 - 60 < expiry <= 3 * 3600

    async with engine.begin() as connection:
        await connection.execute(sources.delete().where(sources.c.status == "error"))
    await poller.poll()
    assert value(registry, "hookgate_sources", provider="google", status="error") == 0


async def test_runner_counters_follow_the_runners_totals() -> None:
    registry = CollectorRegistry()
    metrics = ConsumerMetrics(registry, providers=PROVIDERS)
    stats = KafkaRunnerStats(dead_letters=2, retries=5)
    poller = RunnerStatsPoller(stats, metrics)
    await poller.poll()
    stats.dead_letters += 1
    await poller.poll()
    await poller.poll()
    assert value(registry, "hookgate_dlq_sent_total") == 3
    assert value(registry, "hookgate_consumer_retries_total") == 5
    assert value(registry, "hookgate_consumer_commit_failures_total") == 0


def test_provider_code_reports_with_bounded_labels() -> None:
    registry = CollectorRegistry()
    metrics = ConsumerMetrics(registry, providers=PROVIDERS)
    metrics.oauth_refresh_failed("google", "revoked")
    metrics.oauth_refresh_failed("google", "some new thing")
    metrics.source_error("zoom", "unavailable")  # not a provider
    assert (
        value(
            registry, "hookgate_oauth_refresh_failures_total", provider="google", reason="revoked"
        )
        == 1
    )
    assert (
        value(registry, "hookgate_oauth_refresh_failures_total", provider="google", reason="other")
        == 1
    )
    assert (
        value(registry, "hookgate_source_errors_total", provider="other", reason="unavailable") == 1
    )


def test_gateway_and_consumer_metrics_share_one_registry_in_embedded_mode() -> None:
    registry = CollectorRegistry()
    GatewayMetrics(registry)
    ConsumerMetrics(registry)
    assert value(registry, "hookgate_deliveries_total", provider="pco", outcome="accepted") == 0
    assert value(registry, "hookgate_consumer_poll_errors_total", poller="store") == 0
