"""Soak: send many hostile requests at a `hookgate serve` on loopback and count the answers.

    .venv/bin/python -m tests.soak.hostile [--requests N] [--concurrency C] [--max-seconds S]

Starts its own gateway (`hookgate serve`, embedded mode, in a temporary directory,
127.0.0.1 only, rate limit off so the counts are about hostility), registers one
source per provider, sends requests drawn by `tests.reliability.hostile.draw`, and
prints the answers by status and by kind. It exits 1 if any answer broke a rule
(a 5xx, a 2xx without a valid signature, a genuine delivery refused), if the
events the gateway published differ from the 200s it gave, or if they were not
all applied to the store by its embedded consumers within `--drain-seconds` of the
last answer: every accepted event in the processed-event ledger, none parked as a
dead letter.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import create_engine, insert

from schemas.google_store import google_channels
from tests.fixtures.gateway import ADMIN_TOKEN
from tests.fixtures.rawhttp import exchange
from tests.fixtures.serve import ServeProcess
from tests.gateway import deliveries
from tests.gateway.conftest import public_pem
from tests.reliability import hostile

MAX_HEADER_BYTES = 16_384
MAX_BODY_BYTES = 256 * 1024


def soak_gateway(tmp: Path, ghl_key: Ed25519PrivateKey) -> ServeProcess:
    """Embedded mode on loopback (no provider API reachable), rate limits off."""
    return ServeProcess.on_loopback(
        tmp,
        ghl_public_key_ed25519=public_pem(ghl_key),
        unverified_rate_per_second=0,
        max_header_bytes=MAX_HEADER_BYTES,
        max_body_bytes=MAX_BODY_BYTES,
        header_timeout_seconds=2,
        log_level="WARNING",
    )


async def add_sources(base: str) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    bodies: dict[str, dict[str, Any]] = {
        "calendly": {"tenant": "soak", "secret": deliveries.CALENDLY_KEY},
        "pco": {"tenant": "soak", "secret": deliveries.PCO_SECRET},
        "ghl": {"tenant": "soak", "options": {"location_id": hostile.GHL_LOCATION}},
        "google": {
            "tenant": "soak",
            "credentials": {"client_id": "c", "client_secret": "s", "refresh_token": "r"},
        },
        "stripe": {"tenant": "soak", "secret": deliveries.STRIPE_SECRET},
    }
    async with httpx.AsyncClient(base_url=base, headers=headers) as admin:
        made = {}
        for provider, body in bodies.items():
            response = await admin.post("/admin/sources", json={"provider": provider, **body})
            response.raise_for_status()
            made[provider] = response.json()["id"]
    return made


def add_google_channel(tmp: Path, source_id: str) -> str:
    """A live channel of the Google source in the store (only its notifications publish)."""
    channel_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    engine = create_engine(f"sqlite:///{tmp / 'store.db'}")
    try:
        with engine.begin() as connection:
            connection.execute(
                insert(google_channels).values(
                    id=channel_id,
                    source_id=source_id,
                    calendar_id="team@example.com",
                    state="active",
                    expires_at=now + timedelta(days=7),
                    created_at=now,
                )
            )
    finally:
        engine.dispose()
    return channel_id


async def published_events(base: str) -> float:
    async with httpx.AsyncClient(base_url=base) as client:
        text = (await client.get("/metrics")).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("hookgate_events_published_total{")
    )


async def metric_total(base: str, name: str) -> float:
    """The sum of a counter's children on the gateway's /metrics."""
    async with httpx.AsyncClient(base_url=base) as client:
        text = (await client.get("/metrics")).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{") or line.startswith(name + " ")
    )


async def wait_applied(base: str, events: float, seconds: float) -> float:
    """Wait until the embedded consumers applied (or counted unhandled) `events`."""
    deadline = time.monotonic() + seconds
    while True:
        done = await metric_total(base, "hookgate_events_applied_total") + await metric_total(
            base, "hookgate_events_unhandled_total"
        )
        if done >= events or time.monotonic() > deadline:
            return done
        await asyncio.sleep(0.5)


def store_contents(store: Path) -> tuple[set[str], int]:
    """(the event ids in the ledger, the number of dead letters) of the gateway's store."""
    with contextlib.closing(sqlite3.connect(store)) as db:
        ledger = {row[0] for row in db.execute("select event_id from processed_events")}
        parked = db.execute("select count(*) from dead_letters").fetchone()[0]
    return ledger, int(parked)


async def soak(args: argparse.Namespace) -> int:
    ghl_key = Ed25519PrivateKey.generate()
    with tempfile.TemporaryDirectory(prefix="hookgate-soak-") as tmp:
        gateway = soak_gateway(Path(tmp), ghl_key)
        port, base = gateway.port, gateway.url
        gateway.run("migrate")
        server = gateway.start()
        try:
            sources = await add_sources(base)
            targets = hostile.Targets(
                sources,
                ghl_key,
                MAX_HEADER_BYTES,
                MAX_BODY_BYTES,
                google_channel=add_google_channel(Path(tmp), sources["google"]),
            )
            by_status: Counter[int | None] = Counter()
            by_kind: Counter[tuple[str, int | None]] = Counter()
            problems: Counter[str] = Counter()
            rng = random.Random(args.seed)
            sent = 0
            accepted_ids: set[str] = set()
            deadline = time.monotonic() + args.max_seconds
            started = time.monotonic()

            async def worker() -> None:
                nonlocal sent
                while sent < args.requests and time.monotonic() < deadline:
                    sent += 1
                    case = hostile.draw(rng, targets)
                    try:
                        answer = await exchange("127.0.0.1", port, case.raw, timeout=30)
                    except (TimeoutError, OSError):
                        answer = None
                    status = answer.status if answer else None
                    if answer is not None and status == 200 and case.publishes:
                        accepted_ids.add(orjson.loads(answer.body)["id"])
                    by_status[status] += 1
                    by_kind[(case.kind, status)] += 1
                    problem = hostile.judge(case, status)
                    if problem:
                        problems[f"{case.kind}: {problem}"] += 1

            await asyncio.gather(*(worker() for _ in range(args.concurrency)))
            elapsed = time.monotonic() - started
            published = await published_events(base)
            applied = await wait_applied(base, published, args.drain_seconds)
        finally:
            exit_code = server.terminate(60)
        ledger, parked = store_contents(Path(tmp) / "store.db")
    total = sum(by_status.values())
    print(f"sent {total} requests in {elapsed:.0f} s ({total / elapsed:.0f}/s), seed {args.seed}")
    print("by status:", ", ".join(f"{s}: {n}" for s, n in sorted(by_status.items(), key=str)))
    for kind in hostile.KINDS:
        row = {s: n for (k, s), n in by_kind.items() if k == kind}
        print(f"  {kind:22} " + ", ".join(f"{s}: {n}" for s, n in sorted(row.items(), key=str)))
    print(
        f"events published (metrics): {published:.0f}; 200 answers: {by_status[200]},"
        f" of which publishing: {len(accepted_ids)}"
    )
    print(
        f"applied by the consumers (metrics): {applied:.0f}; accepted ids: {len(accepted_ids)},"
        f" {len(accepted_ids - ledger)} of them not in the ledger; dead letters: {parked}"
    )
    print(f"gateway exit code after SIGTERM: {exit_code}")
    for problem, count in problems.most_common():
        print(f"PROBLEM x{count}: {problem}")
    ok = (
        not problems
        and published == len(accepted_ids) == applied
        and accepted_ids <= ledger
        and parked == 0
        and exit_code == 0
    )
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--max-seconds", type=float, default=900)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument(
        "--drain-seconds", type=float, default=120, help="how long the consumers may take"
    )
    return asyncio.run(soak(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
