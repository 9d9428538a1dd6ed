"""Request ids: every request gets one, every log line written for it carries it.

A caller's `X-Request-ID` is kept when it looks like an id (a load balancer's or a
provider's); otherwise a fresh one is made. It is echoed on the response.
"""

from __future__ import annotations

import itertools
import os
import re
import secrets

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.logs import REQUEST_ID

HEADER = "x-request-id"
_ACCEPTABLE = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class _Ids:
    """Fresh ids: a random per-process prefix and a counter, 32 hex digits (as a uuid4's).

    Unique without a system call per request; an id is a label, not a secret.
    """

    def __init__(self) -> None:
        self.reseed()

    def reseed(self) -> None:
        self._prefix = secrets.token_hex(8)
        self._counter = itertools.count()

    def new(self) -> str:
        return f"{self._prefix}{next(self._counter) & 0xFFFF_FFFF_FFFF_FFFF:016x}"


_IDS = _Ids()
os.register_at_fork(after_in_child=_IDS.reseed)


def new_request_id() -> str:
    return _IDS.new()


def request_id_from(raw: bytes | None) -> str:
    """The caller's id if it is short and plain, else a new one."""
    if raw is not None:
        candidate = raw.decode("latin-1")
        if _ACCEPTABLE.fullmatch(candidate):
            return candidate
    return _IDS.new()


class RequestIdMiddleware:
    """Pure ASGI middleware (no response buffering): sets `REQUEST_ID` for the request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((value for name, value in scope["headers"] if name == HEADER.encode()), None)
        request_id = request_id_from(given)
        token = REQUEST_ID.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)
