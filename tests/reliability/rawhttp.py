"""A bare HTTP/1.1 client on a raw socket, for requests no well-behaved client will send.

Every exchange uses its own connection (`Connection: close`), so a request the
server refuses cannot poison the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

Header = tuple[bytes, bytes]


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def request_bytes(
    method: bytes, path: bytes, headers: Sequence[Header], body: bytes, *, length: bool = True
) -> bytes:
    lines = [method + b" " + path + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]
    lines += [name + b": " + value for name, value in headers]
    if length:
        lines.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


async def read_response(reader: asyncio.StreamReader) -> RawResponse | None:
    """The response, or None when the server closed without one."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in header_lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    try:
        if "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        else:
            body = await reader.read()
    except (asyncio.IncompleteReadError, ConnectionError):
        body = b""
    return RawResponse(int(status_line.split(" ")[1]), headers, body)


async def exchange(
    host: str, port: int, raw: bytes, *, timeout: float = 30.0
) -> RawResponse | None:
    """Send `raw` whole, then read the answer (the server may answer and close early)."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host, port)
        try:
            with contextlib.suppress(ConnectionError):
                writer.write(raw)
                await writer.drain()
            return await read_response(reader)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
