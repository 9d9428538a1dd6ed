"""Import: 20,000 Planning Center people at PCO's published limit, and the apply rate of
their `pco.person.synced` events beside raw asyncpg.

1. The import: the PCO emulator (served by this process) holds `people` people and
   enforces PCO's limit, 100 requests per 20 s; `hookgate serve` (embedded mode, on a
   fresh PostgreSQL database) imports them, 100 per page (200 pages), and the figure is
   the time from `POST /admin/sources/{id}/sync` to the sync's `completed`, counts
   checked. Its floor is the limit's: pages / limit x period (40 s). The emulator's
   window is fixed from its first request, so a client that spends each window at once
   can finish one window sooner (the 200th page in the second window, after 20 s).
   The same import with the limit lifted, on a database of its own, says what the
   machine allows: where that is near the floor, the floor is not what binds.
2. Apply: the same people, read by the importer itself (`PcoImporter`, the emulator's
   limit lifted), as one sync's events, applied by the `Applier` in this process in
   batches of `batch` (the members table and the ledger emptied first; each batch
   prepared untimed, as in the apply section's store path). The reference writes the
   rows that left in `members` again with raw asyncpg, one `INSERT … SELECT unnest(…)
   ON CONFLICT DO UPDATE` per batch: the database's limit for these rows.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from consumers.apply import Applier
from consumers.imports.importer import SyncScope
from consumers.imports.jobs import SyncJobs
from consumers.imports.paced import PacedApi
from consumers.pco.connect import PcoConnect
from consumers.pco.imports import PcoImporter
from consumers.providers import build_registry
from schemas import CloudEvent
from schemas.tables import sources
from tests.bench.apply import LEDGER, RawFigures, collected_as_in_a_consumer, raw_pass, raw_plan
from tests.bench.table import Line
from tests.emulators.ratelimit import FixedWindowLimiter
from tests.emulators.suite import ProviderEmulators
from tests.fixtures.gateway import ADMIN_TOKEN
from tests.fixtures.postgres import disposed_engine, fresh_database
from tests.fixtures.processes import ServiceError
from tests.imports.killed_import import pco_people, serve_process

PCO_LIMIT, PCO_PERIOD, PER_PAGE = 100, 20.0, 100
UNLIMITED = 10**9


@dataclass(frozen=True)
class ImportOptions:
    people: int = 20_000
    limit: int = PCO_LIMIT
    period: float = PCO_PERIOD
    batch: int = 2_000
    """Events per applied batch, and rows per raw batch."""
    timeout_seconds: float = 600.0

    @property
    def pages(self) -> int:
        return -(-self.people // PER_PAGE)

    @property
    def floor_seconds(self) -> float:
        """The limit's floor at its steady rate: pages / limit x period."""
        return self.pages / self.limit * self.period

    @property
    def window_floor_seconds(self) -> float:
        """The floor where the window is fixed from its first request, as the emulator's:
        the last window's pages may all come at its start."""
        return (-(-self.pages // self.limit) - 1) * self.period


@dataclass(frozen=True)
class ImportRun:
    seconds: float
    """From the sync's start to its completion, seen through the admin API."""
    pages: int
    refused: int
    """429s the emulator answered (a client that paces itself gets none)."""
    credentials: tuple[str, str]
    """The source's personal access token (`app_id`, `secret`)."""


@dataclass(frozen=True)
class ImportFigures:
    people: int
    floor_seconds: float
    window_floor_seconds: float
    limited: ImportRun
    """At the limit."""
    unlimited: ImportRun
    """The same import with the limit lifted: what this machine allows."""
    applied_seconds: float
    """Inside `Applier.apply`, over the synced events."""
    raw: RawFigures

    @property
    def apply_rate(self) -> float:
        return self.people / self.applied_seconds if self.applied_seconds else 0.0


async def run_import(options: ImportOptions) -> ImportFigures:
    print(f"import: {options.people:,} people, no rate limit", file=sys.stderr, flush=True)
    async with (
        pco_people(options.people, UNLIMITED, options.period) as emulators,
        fresh_database(migrate=False) as url,
    ):
        unlimited = await _imported(emulators, url, options)
    print(f"import: {options.people:,} people at the limit", file=sys.stderr, flush=True)
    async with (
        pco_people(options.people, options.limit, options.period) as emulators,
        fresh_database(migrate=False) as url,
    ):
        limited = await _imported(emulators, url, options)
        emulators.pco.rate_limit = FixedWindowLimiter(UNLIMITED, options.period, emulators.pco._now)
        print("import: applying the synced events again", file=sys.stderr, flush=True)
        stream = await _synced_events(emulators, url, *limited.credentials)
        applied_seconds = await _apply(url, stream, options.batch)
        print("import: raw asyncpg reference", file=sys.stderr, flush=True)
        raw = await _raw_members(url.replace("postgresql+asyncpg", "postgresql", 1), options.batch)
    if raw.rows != options.people:
        raise ServiceError(f"the applier wrote {raw.rows} members for {options.people} people")
    return ImportFigures(
        options.people,
        options.floor_seconds,
        options.window_floor_seconds,
        limited,
        unlimited,
        applied_seconds,
        raw,
    )


async def _imported(emulators: ProviderEmulators, url: str, options: ImportOptions) -> ImportRun:
    org = next(iter(emulators.pco.organizations.values()))
    credentials = emulators.pco.add_personal_access_token(org)
    with tempfile.TemporaryDirectory(prefix="hookgate-bench-import-") as tmp:
        seconds = await _import(emulators, Path(tmp), url, *credentials, options)
    return ImportRun(
        seconds,
        emulators.pco.counters.people_pages,
        emulators.pco.rate_limit.counters.refused,
        credentials,
    )


async def _import(
    emulators: ProviderEmulators,
    tmp: Path,
    url: str,
    app_id: str,
    secret: str,
    options: ImportOptions,
) -> float:
    gateway = serve_process(tmp, emulators, url)
    await asyncio.to_thread(gateway.run, "migrate")
    service = await asyncio.to_thread(gateway.start)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    try:
        async with httpx.AsyncClient(base_url=gateway.url, headers=headers, timeout=30) as admin:
            credentials = {"app_id": app_id, "secret": secret}
            created = await admin.post(
                "/admin/sources",
                json={"provider": "pco", "tenant": "church", "credentials": credentials},
            )
            created.raise_for_status()
            began = time.monotonic()
            started = await admin.post(f"/admin/sources/{created.json()['id']}/sync", json={})
            started.raise_for_status()
            view = await _ended(admin, started.json()["id"], began + options.timeout_seconds)
            seconds = time.monotonic() - began
    finally:
        service.stop()
    if (view["status"], view["items_processed"], view["items_created"]) != (
        "completed",
        options.people,
        options.people,
    ):
        raise ServiceError(f"the import ended {view}")
    return seconds


async def _ended(admin: httpx.AsyncClient, sync_id: str, deadline: float) -> dict[str, Any]:
    while time.monotonic() < deadline:
        view: dict[str, Any] = (await admin.get(f"/admin/syncs/{sync_id}")).json()
        if view["status"] != "running":
            return view
        await asyncio.sleep(0.05)
    raise ServiceError("the import did not end in time")


async def _synced_events(
    emulators: ProviderEmulators, url: str, app_id: str, secret: str
) -> list[CloudEvent]:
    """Every person as the importer publishes it, as events of a new full sync."""
    importer = PcoImporter()
    auth = PcoConnect().token_auth({"app_id": app_id, "secret": secret})
    if auth is None:
        raise ServiceError("PCO token credentials need an app_id and a secret")
    async with disposed_engine(url) as engine:
        now = datetime.now(UTC)
        job = await SyncJobs(engine).create(
            source_id=await _source_id(engine),
            provider="pco",
            tenant="church",
            mode="full",
            now=now,
        )
    if job is None:
        raise ServiceError("a sync of the bench's source is still running")
    stream: list[CloudEvent] = []
    async with httpx.AsyncClient(timeout=30) as http:
        api = PacedApi(http, emulators.api_base("pco"), auth, name="pco")
        scope = SyncScope(job=job, account={}, since=None, now=now)
        cursor: dict[str, Any] | None = None
        while True:
            page = await importer.page(api, scope, cursor)
            stream += page.events
            if page.cursor is None:
                return stream
            cursor = page.cursor


async def _source_id(engine: AsyncEngine) -> str:
    async with engine.connect() as connection:
        found: str = (await connection.execute(select(sources.c.id))).scalar_one()
    return found


async def _apply(url: str, stream: list[CloudEvent], batch: int) -> float:
    """Empty members and the ledger, then apply `stream`; seconds inside `apply`."""
    async with disposed_engine(url) as engine:
        async with engine.begin() as connection:
            await connection.exec_driver_sql(f"TRUNCATE members, {LEDGER}")
        applier = Applier(engine, build_registry())
        seconds = 0.0
        with collected_as_in_a_consumer():
            for start in range(0, len(stream), batch):
                prepared = await applier.prepare(stream[start : start + batch])
                began = time.perf_counter()
                await applier.apply(prepared)
                seconds += time.perf_counter() - began
    return seconds


async def _raw_members(dsn: str, batch: int) -> RawFigures:
    connection = await asyncpg.connect(dsn)
    try:
        return await raw_pass(connection, [await raw_plan(connection, "members")], batch, 1)
    finally:
        await connection.close()


def import_lines(figures: ImportFigures) -> list[Line]:
    limited, unlimited = figures.limited, figures.unlimited
    over = limited.seconds / figures.floor_seconds if figures.floor_seconds else 0.0
    raw = figures.raw.rate
    return [
        Line(
            f"import s, {figures.people:,} PCO people at 100 req / 20 s (embedded, PostgreSQL)",
            f"{limited.seconds:.1f} s",
            f"floor {figures.floor_seconds:.0f} s ({figures.window_floor_seconds:.0f} s in "
            f"fixed windows); {limited.pages} pages, {limited.refused} refused",
            f"{over:.2f}x",
            "<= 1.15x",
            over <= 1.15,
        ),
        Line(
            "import s, the same with no rate limit (what this machine allows)",
            f"{unlimited.seconds:.1f} s",
            f"{figures.people / unlimited.seconds:,.0f} people/s",
        ),
        Line(
            f"apply pco.person.synced events/s, {figures.people:,} -> PostgreSQL",
            f"{figures.apply_rate:,.0f} events/s",
            f"raw asyncpg {raw:,.0f} rows/s",
            f"{figures.apply_rate / raw if raw else 0.0:.2f}x",
        ),
    ]
