"""`python -m tests.bench.micro [--requests N] [--profile]`: CPU per webhook delivery, in-process.

Drives the real app (`create_app`, SQLite store, a Calendly source) with ASGI calls
straight from a loop, with a publisher that acknowledges at once: no sockets, no
broker, no uvicorn. What remains is what the gateway's own code costs per delivery,
which moves far less with the machine's load than a wrk run does. `--profile`
prints the top of a cProfile of the same loop.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import logging
import pstats
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvloop
from pydantic import SecretStr

from gateway.app import create_app
from gateway.logs import configure_logging
from gateway.settings import Settings
from gateway.store.migrate import upgrade
from gateway.store.sources import SourceRepository
from schemas import BusRecord
from tests.bench.stack import add_calendly_source
from tests.fixtures.wrk import calendly_bodies
from verifiers.calendly import sign

SIGNING_KEY = "micro-calendly-signing-key"


class AckingPublisher:
    """Acknowledges every publish at once (what remains is the gateway's own CPU)."""

    def __init__(self) -> None:
        self.records = 0

    async def publish(self, records: Sequence[BusRecord]) -> None:
        self.records += len(records)

    async def ready(self) -> bool:
        return True


async def _post(app: Any, path: str, headers: list[tuple[bytes, bytes]], body: bytes) -> int:
    status = 0
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.Event().wait()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    await app(scope, receive, send)
    return status


async def measure(requests: int, workdir: Path, *, profile: bool) -> float:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{workdir / 'store.db'}",
        spool_path=workdir / "spool.db",
        secret_keys=(SecretStr("micro-secret-key-0123456789abcdef"),),
        dev_key_path=workdir / "dev.key",
        rate_limit_per_second=0,
    )
    await upgrade(settings.database_url)
    publisher = AckingPublisher()
    app = create_app(settings, publisher=publisher)
    async with app.router.lifespan_context(app):
        context = app.state.context
        sources = SourceRepository(context.engine, context.box)
        source_id = await add_calendly_source(sources, "micro", SIGNING_KEY)
        now = datetime.now(UTC)
        stamp = int(now.timestamp())
        signed = []
        for body in calendly_bodies(500, now, "M"):
            signature = sign(body, SIGNING_KEY, stamp)["Calendly-Webhook-Signature"]
            headers = [
                (b"host", b"127.0.0.1:8000"),
                (b"user-agent", b"wrk"),
                (b"content-type", b"application/json"),
                (b"calendly-webhook-signature", signature.encode()),
                (b"content-length", str(len(body)).encode()),
            ]
            signed.append((headers, body))
        path = f"/webhooks/calendly/{source_id}"
        for headers, body in signed[:200]:  # warm-up
            assert await _post(app, path, headers, body) == 200
        profiler = cProfile.Profile() if profile else None
        started = time.process_time()
        if profiler is not None:
            profiler.enable()
        for n in range(requests):
            headers, body = signed[n % len(signed)]
            await _post(app, path, headers, body)
        if profiler is not None:
            profiler.disable()
        elapsed = time.process_time() - started
        if profiler is not None:
            pstats.Stats(profiler).sort_stats("tottime").print_stats(35)
    return elapsed / requests * 1e6


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.micro", description=__doc__)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    handler = logging.getLogger().handlers[0]
    with (
        tempfile.TemporaryDirectory() as tmp,
        open("/dev/null", "w") as sink,
        contextlib.redirect_stderr(sink),
    ):
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sink)
        per_request = uvloop.run(measure(args.requests, Path(tmp), profile=args.profile))
    print(f"{per_request:.1f} us of CPU per delivery ({args.requests:,} deliveries, in-process)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
