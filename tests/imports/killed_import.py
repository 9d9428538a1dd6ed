"""A PCO import whose `hookgate serve` is killed with SIGKILL mid-way, finished by the next.

The emulator serves the people in this process, with its rate limit enforced; the
gateway is a real `hookgate serve` process (embedded mode) on the given store, with a
short sync lease so the next process takes the job over soon after the kill. The
report counts every people page the emulator served, by query: a page read again after
the resume shows as a query served twice. Run by tests/imports/test_killed_import.py
(a few thousand people) and tests/soak/killed_import.py (20,000).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.emulators.ratelimit import FixedWindowLimiter
from tests.emulators.suite import ProviderEmulators
from tests.fixtures.gateway import ADMIN_TOKEN
from tests.fixtures.net import serve_on_loopback
from tests.fixtures.processes import Service
from tests.fixtures.serve import ServeProcess

LEASE_SECONDS = 2.0


@dataclass(frozen=True)
class KilledImport:
    view: dict[str, Any]
    """The sync's final view (`GET /admin/syncs/{id}`)."""
    processed_when_killed: int
    pages_when_killed: int
    pages: Counter[str]
    """People pages served, by query string."""
    limiter: FixedWindowLimiter
    seconds: float

    @property
    def refetched(self) -> int:
        """Pages served more than once, counted once per extra read."""
        return sum(reads - 1 for reads in self.pages.values())

    @property
    def most_reads(self) -> int:
        return max(self.pages.values(), default=0)

    def problems(self, people: int, per_page: int = 100) -> list[str]:
        """What falls short of "resumed from its last committed page, exact counts"."""
        found = []
        counts = (self.view["items_processed"], self.view["items_created"])
        if self.view["status"] != "completed" or counts != (people, people):
            found.append(f"the sync ended {self.view['status']} with {counts}, not {people}")
        if self.view["items_failed"]:
            found.append(f"{self.view['items_failed']} records failed")
        if not 0 < self.processed_when_killed < people:
            found.append("the gateway was not killed mid-import")
        if len(self.pages) != -(-people // per_page):
            found.append(f"{len(self.pages)} distinct pages served for {people} people")
        if self.most_reads > 2 or self.refetched > 2:
            found.append(f"{self.refetched} pages read again, one {self.most_reads} times")
        if self.limiter.counters.ignored_retry_after:
            found.append("requests came before a Retry-After had passed")
        return found

    def summary(self) -> str:
        return (
            f"{self.view['status']}: processed {self.view['items_processed']}, created "
            f"{self.view['items_created']} in {self.seconds:.1f} s; killed at "
            f"{self.processed_when_killed} processed ({self.pages_when_killed} pages); "
            f"{sum(self.pages.values())} pages served for {len(self.pages)} distinct, "
            f"{self.refetched} refetched; 429s {self.limiter.counters.refused}, "
            f"Retry-After ignored {self.limiter.counters.ignored_retry_after}"
        )


@contextlib.asynccontextmanager
async def pco_people(people: int, limit: int, period: float) -> AsyncIterator[ProviderEmulators]:
    """The emulators on loopback, with one PCO organization of `people` people and
    `limit` requests per `period` seconds."""
    emulators = ProviderEmulators()
    emulators.pco.rate_limit = FixedWindowLimiter(limit, period, emulators.pco._now)
    emulators.pco.add_people(emulators.pco.add_organization("Grace"), people)
    async with serve_on_loopback(emulators.app) as base:
        emulators.served_at(base)
        yield emulators


def serve_process(tmp: Path, emulators: ProviderEmulators, database_url: str) -> ServeProcess:
    providers = {
        name.removeprefix("HOOKGATE_").lower(): value
        for name, value in emulators.settings().items()
    }
    return ServeProcess.on_loopback(
        tmp, database_url=database_url, sync_lease_seconds=LEASE_SECONDS, **providers
    )


async def kill_9(service: Service) -> None:
    """SIGKILL to the gateway's whole process group, as `kill -9` leaves it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(service.pid, signal.SIGKILL)
    await asyncio.to_thread(service.process.wait, 10)


async def killed_import(
    tmp: Path,
    database_url: str,
    *,
    people: int,
    limit: int,
    period: float,
    kill_at: float = 0.5,
    timeout: float = 120.0,
) -> KilledImport:
    """Import `people` PCO people, SIGKILL the gateway once `kill_at` of them are
    committed, start another, and wait for the sync to end."""
    async with pco_people(people, limit, period) as emulators:
        pco = emulators.pco
        org = next(iter(pco.organizations.values()))
        app_id, secret = pco.add_personal_access_token(org)
        gateway = serve_process(tmp, emulators, database_url)
        await asyncio.to_thread(gateway.run, "migrate")
        began = time.monotonic()
        first = await asyncio.to_thread(gateway.start)
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        async with httpx.AsyncClient(base_url=gateway.url, headers=headers, timeout=30) as admin:
            try:
                created = await admin.post(
                    "/admin/sources",
                    json={
                        "provider": "pco",
                        "tenant": "church",
                        "credentials": {"app_id": app_id, "secret": secret},
                    },
                )
                created.raise_for_status()
                started = await admin.post(f"/admin/sources/{created.json()['id']}/sync", json={})
                started.raise_for_status()
                sync_id = started.json()["id"]
                async with asyncio.timeout(timeout):
                    processed = await _processed_at_least(admin, sync_id, people * kill_at)
            finally:
                await kill_9(first)
            pages_when_killed = pco.counters.people_pages
            second = await asyncio.to_thread(gateway.start)
            try:
                async with asyncio.timeout(timeout):
                    view = await _ended(admin, sync_id)
            finally:
                second.stop()
        return KilledImport(
            view=view,
            processed_when_killed=processed,
            pages_when_killed=pages_when_killed,
            pages=Counter(pco.counters.pages_by_query),
            limiter=pco.rate_limit,
            seconds=time.monotonic() - began,
        )


async def _processed_at_least(admin: httpx.AsyncClient, sync_id: str, least: float) -> int:
    while True:
        processed = int((await admin.get(f"/admin/syncs/{sync_id}")).json()["items_processed"])
        if processed >= least:
            return processed
        await asyncio.sleep(0.02)


async def _ended(admin: httpx.AsyncClient, sync_id: str) -> dict[str, Any]:
    while True:
        with contextlib.suppress(httpx.TransportError):
            view: dict[str, Any] = (await admin.get(f"/admin/syncs/{sync_id}")).json()
            if view["status"] != "running":
                return view
        await asyncio.sleep(0.1)
