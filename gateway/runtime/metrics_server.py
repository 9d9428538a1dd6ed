"""A tiny HTTP listener for processes that serve no app: `/metrics` and `/healthz`.

`hookgate consume` runs one on HOOKGATE_METRICS_PORT so Prometheus can scrape the
consumer and Kubernetes can probe it. It answers only GET, one request per
connection, and formats metrics already in memory (the pollers keep them fresh),
so a scrape never waits on Kafka or the store.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

MAX_REQUEST_BYTES = 8192
READ_TIMEOUT_SECONDS = 5.0


def _response(status: str, body: bytes, content_type: str) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


class MetricsServer:
    def __init__(
        self, registry: CollectorRegistry, *, healthy: Callable[[], bool] = lambda: True
    ) -> None:
        self._registry = registry
        self._healthy = healthy

    def answer(self, method: str, path: str) -> bytes:
        if method != "GET":
            return _response("405 Method Not Allowed", b"", "text/plain")
        route = path.split("?", 1)[0]
        if route == "/metrics":
            return _response("200 OK", generate_latest(self._registry), CONTENT_TYPE_LATEST)
        if route == "/healthz":
            if self._healthy():
                return _response("200 OK", b'{"status":"ok"}', "application/json")
            return _response("503 Service Unavailable", b'{"status":"down"}', "application/json")
        return _response("404 Not Found", b"", "text/plain")

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(READ_TIMEOUT_SECONDS):
                head = await reader.readuntil(b"\r\n\r\n")
            method, path, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            writer.write(self.answer(method, path))
            await writer.drain()
        except (TimeoutError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            writer.write(_response("400 Bad Request", b"", "text/plain"))
        except ConnectionError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


@contextlib.asynccontextmanager
async def serve_metrics(
    registry: CollectorRegistry,
    *,
    host: str = "0.0.0.0",  # noqa: S104 (a scrape target must be reachable from Prometheus)
    port: int = 9100,
    healthy: Callable[[], bool] = lambda: True,
) -> AsyncIterator[int]:
    """Listen while the block runs; yields the bound port (pass port=0 for any free one)."""
    server = await asyncio.start_server(
        MetricsServer(registry, healthy=healthy).handle, host, port, limit=MAX_REQUEST_BYTES
    )
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()
