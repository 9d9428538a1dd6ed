"""The gateway's Prometheus metrics, on a registry passed in (never the global one).

Names follow Prometheus conventions: `hookgate_` prefix, base units, `_total`
counters; labels are bounded (provider, outcome, reason, target), never a tenant or id.

The request path adds to plain tallies (`gateway.ingress.delivery_metrics`) that a collector
reads at scrape time. What lives elsewhere (the spool's depth and age, the relay's and
publisher's counters, readiness) is read by a small background task every few seconds
(`gateway.runtime.poller`): the scrape handler then only formats numbers already in
memory and never waits on SQLite or Kafka.
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge

from gateway.ingress.delivery_metrics import DeliveryCollector
from gateway.ingress.providers import PROVIDERS

OUTCOMES = (
    "accepted",
    "acknowledged",
    "unknown_source",
    "rejected",
    "too_large",
    "malformed",
    "unavailable",
    "rate_limited",
    "timeout",
    "disconnected",
    "refused",
    "error",
)
"""`hookgate_deliveries_total` outcomes: accepted (published), acknowledged (verified,
nothing to publish, e.g. Google's sync), the rejections (refused: 403, a verified
delivery the source must not take), error (the gateway failed), and the reliability limits
(rate_limited 429, timeout 408 for a body too slow, disconnected: the client left)."""

PUBLISH_TARGETS = ("kafka", "spool")
READY_CHECKS = ("store", "bus")

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class GatewayMetrics:
    def __init__(
        self, registry: CollectorRegistry, providers: Sequence[str] = tuple(PROVIDERS)
    ) -> None:
        """`providers`: the label values of the per-provider metrics (the registry's)."""
        self.registry = registry
        self.delivery_tallies = DeliveryCollector(tuple(providers), OUTCOMES, LATENCY_BUCKETS)
        registry.register(self.delivery_tallies)
        self.verification_failures = Counter(
            "hookgate_verification_failures_total",
            "Deliveries refused by verification, by provider and reason code.",
            ["provider", "reason"],
            registry=registry,
        )
        self.publish_errors = Counter(
            "hookgate_publish_errors_total",
            "Publishes that failed, by target: kafka (the records then went to the spool) "
            "or spool (the delivery was answered 503/429).",
            ["target"],
            registry=registry,
        )
        self.spooled_events = Counter(
            "hookgate_spooled_events_total",
            "Events written to the spool because Kafka could not take them (Kafka mode).",
            registry=registry,
        )
        self.relayed_events = Counter(
            "hookgate_relayed_events_total",
            "Events the relay moved from the spool to Kafka.",
            registry=registry,
        )
        self.relay_errors = Counter(
            "hookgate_relay_errors_total",
            "Relay attempts Kafka did not acknowledge (retried with back-off).",
            registry=registry,
        )
        self.relay_restarts = Counter(
            "hookgate_relay_restarts_total",
            "Times the relay's loop crashed on an unexpected error and was restarted after a "
            "back-off (the spool does not drain meanwhile).",
            registry=registry,
        )
        self.relay_refused = Counter(
            "hookgate_relay_refused_events_total",
            "Spooled events Kafka refused for good: sent to the DLQ, or set aside beside the "
            "spool when the DLQ refused them too.",
            ["outcome"],
            registry=registry,
        )
        for outcome in ("dlq", "set_aside"):
            self.relay_refused.labels(outcome)
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
        self.ready = Gauge(
            "hookgate_ready",
            "1 when the check /readyz makes passes (store: SELECT 1; bus: Kafka or the spool "
            "can take records), else 0. Refreshed every few seconds.",
            ["check"],
            registry=registry,
        )
        self.poll_errors = Counter(
            "hookgate_metrics_poll_errors_total",
            "Background metric refreshes that failed (the values shown are stale).",
            ["poller"],
            registry=registry,
        )
        for target in PUBLISH_TARGETS:
            self.publish_errors.labels(target)
        for check in READY_CHECKS:
            self.ready.labels(check)
        self.poll_errors.labels("gateway")
        self._by_provider: dict[str, ProviderMetrics] = {}

    def for_provider(self, provider: str) -> ProviderMetrics:
        """The request path's metric children for one (known) provider, made once."""
        found = self._by_provider.get(provider)
        if found is None:
            found = self._by_provider[provider] = ProviderMetrics(self, provider)
        return found


class ProviderMetrics:
    """What the request path records for one provider, found once per provider."""

    def __init__(self, metrics: GatewayMetrics, provider: str) -> None:
        self._metrics = metrics
        self._provider = provider
        tally = metrics.delivery_tallies.serving(provider)
        self.delivered = tally.delivered
        self.published = tally.published
        self._failures: dict[str, Counter] = {}

    def verification_failed(self, reason: str) -> None:
        counter = self._failures.get(reason)
        if counter is None:
            counter = self._failures[reason] = self._metrics.verification_failures.labels(
                self._provider, reason
            )
        counter.inc()
