"""Connection-level bounds uvicorn's httptools protocol does not give on its own.

- Header size: llhttp (under httptools) buffers a request line and headers of
  any size, so `BoundedHttpToolsProtocol` counts a head's bytes, both as parsed
  (URL and headers) and as received while the head is still incomplete, and past
  `max_header_bytes` answers 431 and closes the connection.
- Header time (slow-loris): a new connection must deliver its first request's
  head within `header_timeout_seconds`, and any later request's head within that
  time of its first byte (uvicorn's keep-alive timeout covers the idle time in
  between). A head still arriving by then gets 408 and the connection is closed;
  a new connection that sent nothing is just closed. A body still trickling in
  after the app already answered gets the same time, then the connection closes.
  The body's bound while the app reads it lives in the webhook endpoint.

The bounds ride on the uvicorn config (`ServerConfig`), which pickles into
worker processes with `--workers`.

One more thing this protocol does, for speed: uvicorn writes a response's head and
its body with two `write` calls, two system calls for a small JSON answer. The
request's transport is wrapped (`_HeadThenBody`) so the head waits for the body and
both leave in one write; a head whose body is not written in the same event-loop
turn is sent on its own at the end of that turn, so nothing waits longer.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

DEFAULT_MAX_HEADER_BYTES = 32_768
DEFAULT_HEADER_TIMEOUT_SECONDS = 10.0


class ServerConfig(uvicorn.Config):
    """uvicorn's config plus hookgate's connection bounds."""

    def __init__(
        self,
        app: Any,
        *,
        max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
        header_timeout_seconds: float = DEFAULT_HEADER_TIMEOUT_SECONDS,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("http", BoundedHttpToolsProtocol)
        kwargs.setdefault("h11_max_incomplete_event_size", max_header_bytes)
        super().__init__(app, **kwargs)
        self.max_header_bytes = max_header_bytes
        self.header_timeout_seconds = header_timeout_seconds


def _raw_response(status: int, reason: str, code: str, detail: str) -> bytes:
    body = orjson.dumps({"error": code, "detail": detail})
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class _HeadThenBody:
    """A request's view of the connection's transport: holds a response head for its body.

    Only the response's status line and headers are held (an interim `100 Continue`
    is not); anything else, `close`, the end of the response or the end of the
    event-loop turn sends what is held first.
    """

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + bytes(data))
        elif data[:9] == b"HTTP/1.1 " and data[9:13] != b"100 ":
            self._held = bytes(data)
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if not self._transport.is_closing():
                self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing an oversized head."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """httptools with a bound on a request head's size and on the time it takes to arrive."""

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self._max_head = int(getattr(config, "max_header_bytes", DEFAULT_MAX_HEADER_BYTES))
        self._head_timeout = float(
            getattr(config, "header_timeout_seconds", DEFAULT_HEADER_TIMEOUT_SECONDS)
        )
        self._head_bytes = 0
        self._head_received = 0
        self._head_too_large = False
        self._head_started = False
        self._message_complete = True
        self._head_timer: asyncio.TimerHandle | None = None

    # the deadline for the next request's head ------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_started = True
        self._message_complete = False
        self._head_bytes = 0
        self._head_received = 0

    def on_headers_complete(self) -> None:
        self._head_started = False
        self._head_bytes = 0
        self._head_received = 0
        self._disarm_head_timer()
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle.transport is self.transport:
            cycle.transport = _HeadThenBody(self.transport, self.loop)  # type: ignore[assignment]

    def on_message_complete(self) -> None:
        self._message_complete = True
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self._message_complete and not self.transport.is_closing():
            self._arm_head_timer()  # answered early; the rest of the body gets a deadline

    def _arm_head_timer(self) -> None:
        self._disarm_head_timer()
        self._head_timer = self.loop.call_later(self._head_timeout, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if (self.cycle is not None and not self.cycle.response_complete) or self.pipeline:
            return  # a request is being served; its own bounds apply
        if self._head_started:
            self.logger.info("request head not received in time; closing the connection")
            self.transport.write(
                _raw_response(
                    408,
                    "Request Timeout",
                    "request_timeout",
                    f"The request headers did not arrive within {self._head_timeout:g} seconds.",
                )
            )
        self.transport.close()

    # the size of a request's head ---------------------------------------------------

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)
        super().on_header(name, value)

    def _count_head(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > self._max_head:
            self._head_too_large = True
            raise _HeadTooLarge

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self._head_started or self.transport.is_closing():
            return
        if self._head_timer is None:
            # A head still incomplete after this chunk: its deadline runs from now. (Armed
            # here, not when the message begins, so a head that arrives whole, as nearly
            # all do, never makes a timer only to cancel it.)
            self._arm_head_timer()
        self._head_received += len(data)  # a head still incomplete, buffered by the parser
        if self._head_received > self._max_head:
            self._head_too_large = True
            self.send_400_response("")

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a parser error; an oversized head gets 431 instead."""
        if not self._head_too_large:
            super().send_400_response(msg)
            return
        self._disarm_head_timer()
        self.transport.write(
            _raw_response(
                431,
                "Request Header Fields Too Large",
                "headers_too_large",
                f"The request line and headers exceed {self._max_head} bytes.",
            )
        )
        self.transport.close()
