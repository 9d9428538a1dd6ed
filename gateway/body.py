"""Reading a request body under a size bound, without reading an oversized one whole."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.types import Receive


class BodyTooLarge(Exception):
    """The request body is larger than the configured limit."""


class ClientGone(Exception):
    """The client disconnected before the whole body arrived."""


def declared_too_large(headers: Mapping[str, str], limit: int) -> bool:
    """True when Content-Length (`headers` by lowercase name) already exceeds `limit`."""
    declared = headers.get("content-length")
    return declared is not None and declared.isdigit() and int(declared) > limit


async def read_bounded(receive: Receive, limit: int) -> bytes:
    """The whole body from ASGI `receive`, or `BodyTooLarge` once more than `limit` arrived."""
    message = await receive()
    if message["type"] != "http.request":
        raise ClientGone
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):  # the usual case: one message holds it all
        if len(body) > limit:
            raise BodyTooLarge
        return body
    chunks = [body]
    size = len(body)
    while True:
        if size > limit:
            raise BodyTooLarge
        message = await receive()
        if message["type"] != "http.request":
            raise ClientGone
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    if size > limit:
        raise BodyTooLarge
    return b"".join(chunks)
