"""Every answer that asks a provider to come back later is the status it retries.

GHL retries only 429; Google only 5xx; Calendly and PCO retry 5xx (and PCO counts any
other answer as a failure). Throttled, not durable, and the gateway's own failure:
each answered from `gateway.ingress.providers.RetryAnswers`, with `Retry-After`, never 500.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.app import create_app
from gateway.bus.publish import Publisher, PublishUnavailable
from schemas import BusRecord
from tests.fixtures.gateway import FrozenClock, RunningGateway, make_settings, running_gateway
from tests.gateway import deliveries
from tests.gateway.conftest import public_pem

RETRY_STATUS = {"ghl": 429, "google": 503, "calendly": 503, "pco": 503, "stripe": 503}
GOOGLE_CREDENTIALS = {"client_id": "cid", "client_secret": "csecret", "refresh_token": "rtoken"}


class Kept:
    """Publishes nothing, and says it made it durable."""

    async def publish(self, records: Sequence[BusRecord]) -> None:
        return None

    async def ready(self) -> bool:
        return True


class Unavailable(Kept):
    async def publish(self, records: Sequence[BusRecord]) -> None:
        raise PublishUnavailable("nothing can take the event in this test")


class Broken(Kept):
    async def publish(self, records: Sequence[BusRecord]) -> None:
        raise RuntimeError("a bug in this test's publisher")


async def add_source(gateway: RunningGateway, provider: str) -> str:
    materials: dict[str, dict[str, Any]] = {
        "calendly": {"secret": deliveries.CALENDLY_KEY},
        "pco": {"secret": deliveries.PCO_SECRET},
        "ghl": {},
        "google": {"credentials": GOOGLE_CREDENTIALS},
        "stripe": {"secret": deliveries.STRIPE_SECRET},
    }
    material = materials[provider]
    source: str = (await gateway.add_source(provider, tenant="acme", **material))["id"]
    return source


async def signed_for(
    gateway: RunningGateway, provider: str, source: str, key: Ed25519PrivateKey
) -> deliveries.Signed:
    now = datetime.now(UTC)
    if provider == "calendly":
        return deliveries.calendly(now)
    if provider == "pco":
        return deliveries.pco(now)
    if provider == "ghl":
        return deliveries.ghl(now, key)
    if provider == "stripe":
        return deliveries.stripe(now)
    channel = await gateway.add_google_channel(source)
    return deliveries.google(now, source, channel_id=channel)


async def answers(
    tmp_path: Path,
    key: Ed25519PrivateKey,
    provider: str,
    publisher: Publisher,
    deliveries_sent: int,
    **settings: Any,
) -> list[tuple[int, str | None, str]]:
    """(status, Retry-After, error code) of each of `deliveries_sent` genuine deliveries."""
    config = make_settings(tmp_path, ghl_public_key_ed25519=public_pem(key), **settings)
    clock = FrozenClock(datetime.now(UTC))
    build = lambda s: create_app(s, clock=clock, publisher=publisher)  # noqa: E731
    seen = []
    async with running_gateway(config, build) as gateway:
        source = await add_source(gateway, provider)
        for _ in range(deliveries_sent):
            signed = await signed_for(gateway, provider, source, key)
            clock.now = datetime.now(UTC)
            response = await gateway.client.post(
                f"/webhooks/{provider}/{source}", content=signed.body, headers=signed.headers
            )
            code = response.json().get("error", "") if response.status_code != 200 else ""
            seen.append((response.status_code, response.headers.get("retry-after"), code))
    return seen


@pytest.mark.parametrize("provider", sorted(RETRY_STATUS))
async def test_a_throttled_source_gets_the_status_its_provider_retries(
    tmp_path: Path, ghl_ed25519_key: Ed25519PrivateKey, provider: str
) -> None:
    seen = await answers(
        tmp_path,
        ghl_ed25519_key,
        provider,
        Kept(),
        2,
        rate_limit_per_second=0.01,
        rate_limit_burst=1,
    )
    (first, _, _), (status, retry_after, code) = seen
    assert first == 200
    assert (status, code) == (RETRY_STATUS[provider], "rate_limited")
    assert retry_after is not None
    assert int(retry_after) >= 1


@pytest.mark.parametrize("provider", sorted(RETRY_STATUS))
async def test_an_event_that_cannot_be_made_durable_gets_the_status_its_provider_retries(
    tmp_path: Path, ghl_ed25519_key: Ed25519PrivateKey, provider: str
) -> None:
    [(status, retry_after, code)] = await answers(
        tmp_path, ghl_ed25519_key, provider, Unavailable(), 1
    )
    assert (status, code) == (RETRY_STATUS[provider], "unavailable")
    assert retry_after is not None


@pytest.mark.parametrize("provider", sorted(RETRY_STATUS))
async def test_a_failure_of_the_gateway_gets_the_status_its_provider_retries(
    tmp_path: Path,
    ghl_ed25519_key: Ed25519PrivateKey,
    provider: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    [(status, retry_after, code)] = await answers(tmp_path, ghl_ed25519_key, provider, Broken(), 1)
    assert (status, code) == (RETRY_STATUS[provider], "internal_error")
    assert retry_after is not None
    assert "a bug in this test's publisher" in caplog.text, "the failure is logged"
