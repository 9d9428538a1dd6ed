"""Hostile input through the real app on a real socket: never a 5xx, never a forged publish.

Every example is checked as it runs: its answer is acceptable for its kind
(`hostile.judge`), and the spool holds exactly one record per 200 answered so far,
so nothing without a valid signature, and nothing refused, ever reached the bus.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.app import create_app
from tests.fixtures.gateway import (
    RunningGateway,
    running_gateway,
    store_google_channel,
)
from tests.fixtures.rawhttp import exchange, request_bytes
from tests.gateway import deliveries
from tests.reliability import hostile
from tests.reliability.conftest import bounded_settings

GOOGLE_CREDENTIALS = {"client_id": "cid", "client_secret": "cs", "refresh_token": "rt"}


class Tally:
    def __init__(self) -> None:
        self.accepted = 0
        self.by_status: Counter[int | None] = Counter()


@pytest.fixture
async def target(
    tmp_path: Path, ghl_key: Ed25519PrivateKey
) -> AsyncIterator[tuple[RunningGateway, hostile.Targets, Tally]]:
    config = bounded_settings(tmp_path, ghl_key, unverified_rate_per_second=0)
    async with running_gateway(config, create_app) as gw:
        sources = {
            "calendly": await gw.add_source_id(
                "calendly", tenant="acme", secret=deliveries.CALENDLY_KEY
            ),
            "pco": await gw.add_source_id("pco", tenant="acme", secret=deliveries.PCO_SECRET),
            "ghl": await gw.add_source_id(
                "ghl", tenant="acme", options={"location_id": hostile.GHL_LOCATION}
            ),
            "google": await gw.add_source_id(
                "google", tenant="acme", credentials=GOOGLE_CREDENTIALS
            ),
            "stripe": await gw.add_source_id(
                "stripe", tenant="acme", secret=deliveries.STRIPE_SECRET
            ),
        }
        channel = await store_google_channel(gw.app, sources["google"], "team@example.com")
        targets = hostile.Targets(sources, ghl_key, 8192, 64 * 1024, google_channel=channel)
        tally = Tally()
        yield gw, targets, tally
        print(f"\nby status: {dict(tally.by_status)}; spooled: {tally.accepted}")


async def _send_and_check(gw: RunningGateway, tally: Tally, case: hostile.Case) -> None:
    answer = await exchange(gw.host, gw.port, case.raw)
    status = answer.status if answer else None
    tally.by_status[status] += 1
    problem = hostile.judge(case, status)
    assert problem is None, (case.kind, case.provider, problem, answer, case.raw[:300])
    if status == 200 and case.publishes:
        tally.accepted += 1
    assert await gw.spooled() == tally.accepted, "a refused request reached the spool"


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rng=st.randoms(use_true_random=False))
async def test_hostile_requests_never_5xx_and_never_publish_unsigned(
    target: tuple[RunningGateway, hostile.Targets, Tally], rng: random.Random
) -> None:
    gw, targets, tally = target
    await _send_and_check(gw, tally, hostile.draw(rng, targets))


header_names = st.sampled_from(
    [name for names in hostile.SIGNATURE_HEADERS.values() for name in names]
    + ["Content-Type", "Content-Length", "Transfer-Encoding", "X-Random", "Host"]
)
header_values = st.binary(max_size=300).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    provider=st.sampled_from(hostile.PROVIDERS),
    headers=st.lists(st.tuples(header_names, header_values), max_size=8),
    body=st.binary(max_size=5000)
    | st.text(max_size=500).map(lambda t: t.encode("utf-8", "surrogatepass")),
)
async def test_arbitrary_headers_and_bodies(
    target: tuple[RunningGateway, hostile.Targets, Tally],
    provider: str,
    headers: list[tuple[str, bytes]],
    body: bytes,
) -> None:
    gw, targets, tally = target
    raw = request_bytes(
        b"POST",
        f"/webhooks/{provider}/{targets.sources[provider]}".encode(),
        [(name.encode(), value) for name, value in headers],
        body,
    )
    await _send_and_check(gw, tally, hostile.Case("arbitrary", provider, raw, expect=None))
