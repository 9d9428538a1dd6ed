"""An asyncio TCP proxy on a thread of its own, to take a service away from its clients.

`cut()` aborts every open connection (the clients see a reset) and closes the
listening socket, so new connections are refused; `restore()` listens again on the
same port. The proxy runs its own event loop on a thread, so it keeps relaying while
the test's loop is busy (a blocking subprocess call, a synchronous health check).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

from tests.gateway.harness import free_port

T = TypeVar("T")
CHUNK = 65536


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, port: int | None = None) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.port = port or free_port()
        self.accepted = 0
        """Connections accepted since start (across cuts)."""
        self.refused_upstream = 0
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def is_cut(self) -> bool:
        return self._server is None

    def start(self) -> None:
        self._thread.start()
        self._call(self._listen())

    def cut(self) -> None:
        """Reset every connection and refuse new ones until `restore`."""
        self._call(self._cut())

    def restore(self) -> None:
        if self._server is None:
            self._call(self._listen())

    def close(self) -> None:
        if self._thread.is_alive():
            self._call(self._shutdown())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
        self._loop.close()

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._relay, "127.0.0.1", self.port, reuse_address=True
        )

    async def _cut(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()

    async def _shutdown(self) -> None:
        await self._cut()
        await asyncio.sleep(0.05)  # let the aborted relays finish

    async def _relay(self, client_in: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        listening = self._server
        try:
            upstream_in, upstream = await asyncio.open_connection(
                self.target_host, self.target_port
            )
        except OSError:
            self.refused_upstream += 1
            client.transport.abort()
            return
        if self._server is None or self._server is not listening:
            upstream.transport.abort()
            client.transport.abort()
            return
        self.accepted += 1
        self._open.update((client, upstream))
        with self._closing(client, upstream):
            await asyncio.gather(_pump(client_in, upstream), _pump(upstream_in, client))

    @contextlib.contextmanager
    def _closing(self, *writers: asyncio.StreamWriter) -> Iterator[None]:
        try:
            yield
        finally:
            for writer in writers:
                self._open.discard(writer)
                writer.transport.abort()


async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Copy until either side closes; then close the sink's write side."""
    try:
        while chunk := await source.read(CHUNK):
            sink.write(chunk)
            await sink.drain()
        if sink.can_write_eof():
            sink.write_eof()
    except (ConnectionError, OSError):
        sink.transport.abort()
