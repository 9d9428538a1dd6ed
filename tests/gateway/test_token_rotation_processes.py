"""Rotating refresh tokens across two `hookgate serve` processes on one PostgreSQL
store, with access tokens that live 4 s and connection tests and imports running in
both: every refresh uses the newest refresh token (a reused one is `invalid_grant`
and, per RFC 9700, would end the grant), and refreshes stay at one per expiry."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

import httpx

from tests.emulators.suite import ProviderEmulators
from tests.fixtures.gateway import ADMIN_TOKEN, loopback_settings
from tests.fixtures.serve import ServeProcess
from tests.gateway.connecting import REDIRECT_TO, authorize, holder, redirect_query

LIFETIME_SECONDS = 4
RUN_SECONDS = 12.0
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def serve_process(tmp: Path, providers: ProviderEmulators, database_url: str) -> ServeProcess:
    tmp.mkdir()
    env = {
        name.removeprefix("HOOKGATE_").lower(): value
        for name, value in providers.settings().items()
    }
    settings = loopback_settings(tmp, rate_limit_per_second=0) | env
    return ServeProcess(settings | {"database_url": database_url}, tmp / "serve.log")


async def keep_busy(
    admin: httpx.AsyncClient, url: str, source_id: str, until: float
) -> tuple[list[dict[str, object]], int]:
    """A connection test a second (PCO allows 100 requests per 20 s, shared with the
    imports), and a full sync whenever none is running."""
    answers: list[dict[str, object]] = []
    syncs = 0
    while time.monotonic() < until:
        answers.append((await admin.post(f"{url}/admin/sources/{source_id}/test")).json())
        started = await admin.post(f"{url}/admin/sources/{source_id}/sync", json={"mode": "full"})
        syncs += started.status_code == 202
        await asyncio.sleep(1.0)
    return answers, syncs


async def test_two_serve_processes_refresh_once_per_expiry_and_never_reuse_a_token(
    tmp_path: Path, providers: ProviderEmulators, postgres_url: str
) -> None:
    held = holder(providers, "pco")
    providers.pco.add_people(providers.pco.organizations[held.account_id], 250)
    oauth = providers.pco.oauth
    oauth.provider = dataclasses.replace(oauth.provider, access_token_seconds=LIFETIME_SECONDS)
    oauth.approve(held.account)
    first = serve_process(tmp_path / "a", providers, postgres_url)
    second = serve_process(tmp_path / "b", providers, postgres_url)
    one = first.start()
    other = second.start()
    try:
        async with httpx.AsyncClient(headers=AUTH, timeout=30) as admin:
            started = await admin.post(
                f"{first.url}/admin/connect/pco",
                json={"tenant": "acme", "redirect_to": REDIRECT_TO},
            )
            callback = await authorize(started.json()["authorize_url"])
            source_id = redirect_query(await admin.get(callback))["source_id"]
            began = time.monotonic()
            refreshes_before = oauth.counters.token_requests.get("refresh_token", 0)
            busy = await asyncio.gather(
                *(
                    keep_busy(admin, server.url, source_id, began + RUN_SECONDS)
                    for server in (first, first, second, second)
                )
            )
            elapsed = time.monotonic() - began
            shown = (await admin.get(f"{first.url}/admin/sources/{source_id}")).json()
    finally:
        one.stop()
        other.stop()

    answers = [answer for each, _ in busy for answer in each]
    refreshes = oauth.counters.token_requests.get("refresh_token", 0) - refreshes_before
    assert oauth.counters.invalid_grant == 0
    assert oauth.counters.rate_limited == 0
    assert [answer for answer in answers if answer.get("error") == "unauthorized"] == []
    assert sum(bool(answer["ok"]) for answer in answers) >= len(answers) / 2, answers
    assert shown["status"] in ("active", "syncing"), shown
    assert sum(syncs for _, syncs in busy) >= 2
    # a token is refreshed once it is past half its life: at most one refresh per
    # LIFETIME/2 seconds whatever the number of processes, and some did happen
    assert 3 <= refreshes <= elapsed / (LIFETIME_SECONDS / 2) + 1, (refreshes, elapsed)
