"""The gateway's Prometheus metrics, on a registry passed in (never the global one).

Names follow Prometheus conventions: `hookgate_` prefix, base units, `_total`
counters; labels are bounded (provider, outcome, reason), never a tenant or id.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

OUTCOMES = (
    "accepted",
    "acknowledged",
    "unknown_source",
    "rejected",
    "too_large",
    "malformed",
    "unavailable",
)
"""`hookgate_deliveries_total` outcomes: accepted (published), acknowledged (verified,
nothing to publish, e.g. Google's sync), and the rejections."""

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.deliveries = Counter(
            "hookgate_deliveries_total",
            "Webhook deliveries by provider and outcome.",
            ["provider", "outcome"],
            registry=registry,
        )
        self.verification_failures = Counter(
            "hookgate_verification_failures_total",
            "Deliveries refused by verification, by provider and reason code.",
            ["provider", "reason"],
            registry=registry,
        )
        self.request_duration = Histogram(
            "hookgate_ingress_request_duration_seconds",
            "Time from request start to response, webhook routes only.",
            ["provider"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.publish_duration = Histogram(
            "hookgate_publish_duration_seconds",
            "Time to make a delivery's events durable (Kafka ack or spool sync).",
            ["provider"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.events_published = Counter(
            "hookgate_events_published_total",
            "CloudEvents made durable, by provider.",
            ["provider"],
            registry=registry,
        )
        self.spool_depth = Gauge(
            "hookgate_spool_depth_events",
            "Events in the local spool not yet relayed to Kafka (embedded bus: not yet trimmed).",
            registry=registry,
        )
        self.spool_oldest_age = Gauge(
            "hookgate_spool_oldest_event_age_seconds",
            "Age of the oldest event in the spool; 0 when it is empty.",
            registry=registry,
        )
        for provider in ("google", "calendly", "pco", "ghl"):
            for outcome in OUTCOMES:
                self.deliveries.labels(provider, outcome)
