"""The freshness tally the consumer metrics keep exposes what a `Histogram` would."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from consumers.metrics import FRESHNESS_BUCKETS, _FreshnessTally

_AGES = st.lists(
    st.one_of(
        st.sampled_from([*FRESHNESS_BUCKETS, 0.0, -1.0]),
        st.floats(min_value=-10.0, max_value=1e6, allow_nan=False),
    ),
    max_size=40,
)


def _exposed(registry: CollectorRegistry) -> str:
    """The exposition, with `_created` times (which differ by construction) blanked."""
    return re.sub(r"(_created\{[^}]*\}) \S+", r"\1 T", generate_latest(registry).decode())


@given(st.dictionaries(st.sampled_from(["calendly", "pco", "ghl", "other"]), _AGES))
def test_the_tally_exposes_the_histogram_of_the_same_observations(
    ages: dict[str, list[float]],
) -> None:
    expected_registry = CollectorRegistry()
    histogram = Histogram(
        _FreshnessTally.name,
        _FreshnessTally.documentation,
        ["provider"],
        buckets=FRESHNESS_BUCKETS,
        registry=expected_registry,
    )
    tallied_registry = CollectorRegistry()
    tally = _FreshnessTally(FRESHNESS_BUCKETS)
    tallied_registry.register(tally)
    for provider, values in ages.items():
        child = histogram.labels(provider)
        for value in values:
            child.observe(max(0.0, value))
        tally.add(provider, values)
    expected, tallied = _exposed(expected_registry), _exposed(tallied_registry)
    sums = re.compile(r"^(\S+_sum\{[^}]*\}) (\S+)$", re.MULTILINE)
    assert sums.sub(r"\1", tallied) == sums.sub(r"\1", expected)
    for (_, want), (_, got) in zip(sums.findall(expected), sums.findall(tallied), strict=True):
        assert abs(float(got) - float(want)) <= 1e-9 * max(1.0, abs(float(want)))
