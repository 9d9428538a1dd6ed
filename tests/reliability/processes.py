"""`hookgate serve` as a subprocess under load, and the store read back, for the fault tests."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
from sqlalchemy import create_engine, select

from schemas import samples
from schemas.store import bookings
from tests.gateway import deliveries
from tests.gateway.harness import ADMIN_TOKEN, SECRET_KEYS, free_port

HOOKGATE = str(Path(sys.executable).parent / "hookgate")


@dataclass
class Gateway:
    tmp: Path
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKGATE_")}
        return env | {
            "HOOKGATE_DATABASE_URL": f"sqlite+aiosqlite:///{self.tmp / 'store.db'}",
            "HOOKGATE_SPOOL_PATH": str(self.tmp / "spool.db"),
            "HOOKGATE_PORT": str(self.port),
            "HOOKGATE_ADMIN_TOKEN": ADMIN_TOKEN,
            "HOOKGATE_SECRET_KEYS": ",".join(SECRET_KEYS),
            "HOOKGATE_RATE_LIMIT_PER_SECOND": "0",
            "HOOKGATE_GOOGLE_API_BASE": "http://127.0.0.1:9",
            "HOOKGATE_GOOGLE_TOKEN_URL": "http://127.0.0.1:9/token",
        }

    def migrate_and_add_calendly(self) -> str:
        subprocess.run(
            [HOOKGATE, "migrate"], env=self.env, capture_output=True, timeout=60, check=True
        )
        added = subprocess.run(
            [HOOKGATE, "sources", "add", "calendly", "--tenant", "acme", "--secret", "-"],
            input=deliveries.CALENDLY_KEY + "\n",
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        source_id: str = orjson.loads(added.stdout)["id"]
        return source_id

    def start(self, preexec: Callable[[], None] | None = None) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as log:
            server = subprocess.Popen(
                [HOOKGATE, "serve"],
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=log,
                preexec_fn=preexec,  # noqa: PLW1509 (resource limits for the disk-full test)
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert server.poll() is None, self.log_tail()
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return server
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError("hookgate serve did not become healthy in 30 s")

    @property
    def log(self) -> Path:
        return self.tmp / "serve.log"

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def stored_invitees(self) -> set[str]:
        engine = create_engine(f"sqlite:///{self.tmp / 'store.db'}")
        try:
            with engine.connect() as conn:
                return {row[0] for row in conn.execute(select(bookings.c.invitee_uri))}
        finally:
            engine.dispose()

    async def wait_stored(self, expected: set[str], timeout: float = 60) -> set[str]:
        """The stored invitees once `expected` are all in, or whatever is there at the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            stored = self.stored_invitees()
            if expected <= stored or time.monotonic() > deadline:
                return stored
            await asyncio.sleep(0.3)


@dataclass
class Load:
    """Concurrent genuine Calendly deliveries, each a new invitee; answers recorded."""

    url: str
    source_id: str
    sent: set[str] = field(default_factory=set)
    acknowledged: set[str] = field(default_factory=set)
    statuses: dict[int | str, int] = field(default_factory=dict)
    bad: list[str] = field(default_factory=list)
    stopping: bool = False

    async def run(self, workers: int, pause: float = 0.0) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            await asyncio.gather(*(self._worker(client, pause) for _ in range(workers)))

    async def _worker(self, client: httpx.AsyncClient, pause: float) -> None:
        while not self.stopping:
            now = datetime.now(UTC)
            body = samples.sample("calendly", "invitee.created", now=now)
            invitee = orjson.loads(body)["payload"]["uri"]
            signed = deliveries.calendly(now, body=body)
            self.sent.add(invitee)
            try:
                response = await client.post(
                    f"/webhooks/calendly/{self.source_id}", content=body, headers=signed.headers
                )
            except httpx.TransportError as exc:
                key: int | str = type(exc).__name__
                self.statuses[key] = self.statuses.get(key, 0) + 1
                await asyncio.sleep(0.05)
                continue
            self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
            if response.status_code == 200:
                self.acknowledged.add(invitee)
            elif response.status_code != 503 or response.headers.get("retry-after") is None:
                self.bad.append(f"{response.status_code} {response.text[:200]}")
            if pause:
                await asyncio.sleep(pause)
