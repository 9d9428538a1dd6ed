"""Reading a request body under a size bound, without reading an oversized one whole."""

from __future__ import annotations

from starlette.requests import Request


class BodyTooLarge(Exception):
    """The request body is larger than the configured limit."""


def declared_too_large(request: Request, limit: int) -> bool:
    """True when Content-Length already says the body exceeds `limit`."""
    declared = request.headers.get("content-length")
    return declared is not None and declared.isdigit() and int(declared) > limit


async def read_bounded(request: Request, limit: int) -> bytes:
    """The whole body, or `BodyTooLarge` as soon as more than `limit` bytes arrived."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)
