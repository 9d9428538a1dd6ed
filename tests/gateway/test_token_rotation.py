"""Rotating refresh tokens under concurrency: two gateways on one store, many
connection tests at once; exactly one refresh per expiry reaches the provider."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.emulators.suite import ProviderEmulators
from tests.fixtures.gateway import FrozenClock, RunningGateway, running_gateway
from tests.gateway.connecting import build, connect, connect_settings, holder, redirect_query

ROTATING = ("pco", "ghl", "calendly")
LIFETIMES = {
    "pco": timedelta(hours=2),
    "ghl": timedelta(seconds=86399),
    "calendly": timedelta(hours=2),
}
CONCURRENT_TESTS = 8


@contextlib.asynccontextmanager
async def two_gateways(
    tmp_path: Path, providers: ProviderEmulators, store_url: str, clock: FrozenClock
) -> AsyncIterator[tuple[RunningGateway, RunningGateway]]:
    """Two gateways (as two `serve` processes) on one store, on one settable clock."""
    first = connect_settings(tmp_path / "a", providers, database_url=store_url)
    second = connect_settings(tmp_path / "b", providers, database_url=store_url)
    for settings in (first, second):
        settings.spool_path.parent.mkdir(exist_ok=True)
    async with (
        running_gateway(first, lambda s: build(s, clock)) as one,
        running_gateway(second, lambda s: build(s, clock)) as other,
    ):
        yield one, other


async def burst(
    gateways: tuple[RunningGateway, RunningGateway], source_id: str
) -> list[dict[str, Any]]:
    """`CONCURRENT_TESTS` connection tests at once, half on each gateway."""
    answers = await asyncio.gather(
        *(
            gateways[n % 2].admin.post(f"/admin/sources/{source_id}/test")
            for n in range(CONCURRENT_TESTS)
        )
    )
    return [answer.json() for answer in answers]


@pytest.mark.parametrize("provider", ROTATING)
async def test_one_refresh_per_expiry_whatever_the_concurrency(
    tmp_path: Path, providers: ProviderEmulators, store_url: str, provider: str
) -> None:
    clock = FrozenClock(datetime.now(UTC))
    held = holder(providers, provider)
    oauth = providers.oauth_servers()[provider]
    async with two_gateways(tmp_path, providers, store_url, clock) as gateways:
        source_id = redirect_query(await connect(gateways[0], providers, provider, held.account))[
            "source_id"
        ]
        fresh = await burst(gateways, source_id)
        clock.now += LIFETIMES[provider] - timedelta(minutes=1)  # due: within the margin
        due = await burst(gateways, source_id)
        refreshed_when_due = oauth.counters.token_requests.get("refresh_token", 0)
        clock.now += timedelta(seconds=10)  # past Calendly's spacing of token requests
        providers.registry.expire(provider)  # the provider answers 401 to every token
        rejected = await burst(gateways, source_id)

    assert all(answer["ok"] for answer in fresh + due + rejected), fresh + due + rejected
    assert refreshed_when_due == 1
    assert oauth.counters.token_requests["refresh_token"] == 2
    assert sum(oauth.counters.refreshes.values()) == 2
    assert oauth.counters.invalid_grant == 0
    assert oauth.counters.rate_limited == 0


async def test_a_refused_refresh_token_needs_reauthorization_and_is_counted(
    tmp_path: Path, providers: ProviderEmulators, store_url: str
) -> None:
    held = holder(providers, "pco")
    settings = connect_settings(tmp_path, providers, database_url=store_url)
    async with running_gateway(settings, build) as gateway:
        source_id = redirect_query(await connect(gateway, providers, "pco", held.account))[
            "source_id"
        ]
        for token in providers.pco.oauth.live_refresh_tokens():
            providers.pco.oauth.revoke_refresh_token(token)
        providers.registry.expire("pco")
        tested = (await gateway.admin.post(f"/admin/sources/{source_id}/test")).json()
        shown = (await gateway.admin.get(f"/admin/sources/{source_id}")).json()
        metrics = (await gateway.client.get("/metrics")).text

    assert (tested["ok"], tested["error"]) == (False, "unauthorized")
    assert (shown["status"], shown["status_detail"]) == ("error", "reauthorization_required")
    assert 'hookgate_oauth_refresh_failures_total{provider="pco",reason="revoked"} 1.0' in metrics


async def test_a_token_endpoint_outage_is_unreachable_and_leaves_the_source_active(
    tmp_path: Path, providers: ProviderEmulators, sqlite_url: str
) -> None:
    clock = FrozenClock(datetime.now(UTC))
    held = holder(providers, "calendly")
    settings = connect_settings(tmp_path, providers, database_url=sqlite_url)
    async with running_gateway(settings, lambda s: build(s, clock)) as gateway:
        source_id = redirect_query(await connect(gateway, providers, "calendly", held.account))[
            "source_id"
        ]
        providers.registry.expire("calendly")
        providers.calendly.oauth.token_faults.inject(503)
        tested = (await gateway.admin.post(f"/admin/sources/{source_id}/test")).json()
        shown = (await gateway.admin.get(f"/admin/sources/{source_id}")).json()
        clock.now += timedelta(seconds=8)  # the failed request counts against the spacing
        retested = (await gateway.admin.post(f"/admin/sources/{source_id}/test")).json()

    assert (tested["ok"], tested["error"]) == (False, "unreachable")
    assert shown["status"] == "active"
    assert retested["ok"] is True


async def test_calendly_token_requests_keep_to_eight_a_minute_per_user(
    tmp_path: Path, providers: ProviderEmulators, sqlite_url: str
) -> None:
    """Tokens refused 20 times in 20 s of the gateway's clock: refreshes are spaced
    7.5 s apart (3 of them), the rest answered `rate_limited` without asking Calendly,
    which never has to refuse one (its limit is 8 a minute per user)."""
    clock = FrozenClock(datetime.now(UTC))
    held = holder(providers, "calendly")
    oauth = providers.calendly.oauth
    settings = connect_settings(tmp_path, providers, database_url=sqlite_url)
    async with running_gateway(settings, lambda s: build(s, clock)) as gateway:
        source_id = redirect_query(await connect(gateway, providers, "calendly", held.account))[
            "source_id"
        ]
        answers = []
        for _ in range(20):
            providers.registry.expire("calendly")
            answers.append((await gateway.admin.post(f"/admin/sources/{source_id}/test")).json())
            clock.now += timedelta(seconds=1)
        shown = (await gateway.admin.get(f"/admin/sources/{source_id}")).json()

    assert oauth.counters.token_requests["refresh_token"] == 3
    assert oauth.counters.rate_limited == 0
    assert [answer["ok"] for answer in answers].count(True) == 3
    assert {answer.get("error") for answer in answers if not answer["ok"]} == {"rate_limited"}
    assert shown["status"] == "active"
