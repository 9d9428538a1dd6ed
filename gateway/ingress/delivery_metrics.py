"""The per-delivery metrics, kept as plain tallies and turned into samples at scrape time.

Every webhook request updates four series: its outcome's counter, the request-duration
histogram and, when it published, the publish-duration histogram and the events
counter. Through `prometheus_client` that is six lock-taking `inc` calls per request;
here it is a few integer additions on the event loop's thread, and a collector reads
the tallies when Prometheus scrapes. The names, help texts, labels and buckets are
those of ordinary `Counter`s and `Histogram`s, so the exposition is the same.

A scrape from another thread may see one observation in a histogram's buckets but
not yet in its sum; the next scrape has both.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterator, Sequence

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString


class HistogramTally:
    """One histogram child: a count per bucket (the last one is `+Inf`) and the sum."""

    __slots__ = ("_bounds", "counts", "total")

    def __init__(self, bounds: Sequence[float]) -> None:
        self._bounds = tuple(bounds)
        self.counts = [0] * (len(self._bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self._bounds, value)] += 1
        self.total += value

    def cumulative(self) -> list[tuple[str, float]]:
        """`(le, count of observations <= le)` for each bound and `+Inf`, as exposed."""
        counts = list(self.counts)  # one consistent copy
        running = 0
        buckets = []
        for bound, count in zip((*self._bounds, float("inf")), counts, strict=True):
            running += count
            buckets.append((floatToGoString(bound), float(running)))  # type: ignore[no-untyped-call]
        return buckets


class ProviderTally:
    """What one provider's deliveries added up to."""

    __slots__ = ("created", "events_published", "outcomes", "publish_duration", "request_duration")

    def __init__(self, outcomes: Sequence[str], buckets: Sequence[float]) -> None:
        self.created = time.time()
        self.outcomes = dict.fromkeys(outcomes, 0)
        self.request_duration = HistogramTally(buckets)
        self.publish_duration = HistogramTally(buckets)
        self.events_published = 0

    def delivered(self, outcome: str, seconds: float) -> None:
        outcomes = self.outcomes
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        self.request_duration.observe(seconds)

    def published(self, events: int, seconds: float) -> None:
        self.publish_duration.observe(seconds)
        self.events_published += events


class DeliveryCollector(Collector):
    """Exposes the providers' tallies as `hookgate_deliveries_total`, the two duration
    histograms and `hookgate_events_published_total`."""

    def __init__(
        self, providers: Sequence[str], outcomes: Sequence[str], buckets: Sequence[float]
    ) -> None:
        self._outcomes = tuple(outcomes)
        self._buckets = tuple(buckets)
        self._tallies: dict[str, ProviderTally] = {}
        for provider in providers:
            self.tally(provider)
        self._published: set[str] = set()
        """Providers whose histograms and events counter are shown (once they served)."""

    def tally(self, provider: str) -> ProviderTally:
        """The provider's tally, made on first use."""
        found = self._tallies.get(provider)
        if found is None:
            found = self._tallies[provider] = ProviderTally(self._outcomes, self._buckets)
        return found

    def serving(self, provider: str) -> ProviderTally:
        """The tally of a provider the request path serves: its histograms are shown too."""
        self._published.add(provider)
        return self.tally(provider)

    def describe(self) -> Iterator[Metric]:
        yield from self._families({})

    def collect(self) -> Iterator[Metric]:
        yield from self._families(dict(self._tallies))

    def _families(self, tallies: dict[str, ProviderTally]) -> Iterator[Metric]:
        deliveries = CounterMetricFamily(
            "hookgate_deliveries",
            "Webhook deliveries by provider and outcome.",
            labels=["provider", "outcome"],
        )
        request = HistogramMetricFamily(
            "hookgate_ingress_request_duration_seconds",
            "Time from request start to response, webhook routes only.",
            labels=["provider"],
        )
        publish = HistogramMetricFamily(
            "hookgate_publish_duration_seconds",
            "Time to make a delivery's events durable (Kafka ack or spool sync).",
            labels=["provider"],
        )
        events = CounterMetricFamily(
            "hookgate_events_published",
            "CloudEvents made durable, by provider.",
            labels=["provider"],
        )
        for provider, tally in tallies.items():
            for outcome, count in list(tally.outcomes.items()):
                deliveries.add_metric([provider, outcome], float(count), created=tally.created)
            if provider not in self._published:
                continue
            for family, histogram in (
                (request, tally.request_duration),
                (publish, tally.publish_duration),
            ):
                family.add_metric([provider], histogram.cumulative(), histogram.total)
            events.add_metric([provider], float(tally.events_published), created=tally.created)
        yield deliveries
        yield request
        yield publish
        yield events
