"""The delivery tallies expose exactly what prometheus_client's Counter and Histogram would."""

from __future__ import annotations

import random

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from gateway.ingress.delivery_metrics import DeliveryCollector
from gateway.ingress.metrics import LATENCY_BUCKETS, OUTCOMES, GatewayMetrics
from gateway.ingress.providers import PROVIDERS


def _without_created(exposition: bytes) -> list[str]:
    return [line for line in exposition.decode().splitlines() if "_created" not in line]


def _reference(registry: CollectorRegistry) -> tuple[Counter, Histogram, Histogram, Counter]:
    deliveries = Counter(
        "hookgate_deliveries_total",
        "Webhook deliveries by provider and outcome.",
        ["provider", "outcome"],
        registry=registry,
    )
    request = Histogram(
        "hookgate_ingress_request_duration_seconds",
        "Time from request start to response, webhook routes only.",
        ["provider"],
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )
    publish = Histogram(
        "hookgate_publish_duration_seconds",
        "Time to make a delivery's events durable (Kafka ack or spool sync).",
        ["provider"],
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )
    events = Counter(
        "hookgate_events_published_total",
        "CloudEvents made durable, by provider.",
        ["provider"],
        registry=registry,
    )
    return deliveries, request, publish, events


def test_the_exposition_matches_prometheus_clients_own_metrics() -> None:
    ours_registry, theirs_registry = CollectorRegistry(), CollectorRegistry()
    ours = DeliveryCollector(tuple(PROVIDERS), OUTCOMES, LATENCY_BUCKETS)
    ours_registry.register(ours)
    deliveries, request, publish, events = _reference(theirs_registry)
    for provider in tuple(PROVIDERS):
        for outcome in OUTCOMES:
            deliveries.labels(provider, outcome)
    rng = random.Random(7)
    for provider in ("calendly", "ghl"):
        tally = ours.serving(provider)
        request.labels(provider)
        publish.labels(provider)
        events.labels(provider)
        # bucket edges exactly, values between, and past the largest bound
        samples = [*LATENCY_BUCKETS, 0.0, 7.5, *(rng.uniform(0, 3) for _ in range(300))]
        for n, seconds in enumerate(samples):
            outcome = OUTCOMES[n % len(OUTCOMES)]
            tally.delivered(outcome, seconds)
            deliveries.labels(provider, outcome).inc()
            request.labels(provider).observe(seconds)
            if outcome == "accepted":
                tally.published(2, seconds / 2)
                publish.labels(provider).observe(seconds / 2)
                events.labels(provider).inc(2)

    assert _without_created(generate_latest(ours_registry)) == _without_created(
        generate_latest(theirs_registry)
    )


def test_an_outcome_not_listed_is_counted_too() -> None:
    registry = CollectorRegistry()
    metrics = GatewayMetrics(registry)
    metrics.for_provider("pco").delivered("something_new", 0.2)
    line = 'hookgate_deliveries_total{outcome="something_new",provider="pco"} 1.0'
    assert line in generate_latest(registry).decode()


def test_histograms_appear_once_a_provider_is_served() -> None:
    registry = CollectorRegistry()
    metrics = GatewayMetrics(registry)
    before = generate_latest(registry).decode()
    assert 'hookgate_ingress_request_duration_seconds_count{provider="google"}' not in before
    assert 'hookgate_deliveries_total{outcome="accepted",provider="google"} 0.0' in before
    metrics.for_provider("google").delivered("acknowledged", 0.003)
    after = generate_latest(registry).decode()
    assert 'hookgate_ingress_request_duration_seconds_count{provider="google"} 1.0' in after
    assert 'hookgate_ingress_request_duration_seconds_bucket{le="0.005",provider="google"} 1.0' in (
        after
    )
