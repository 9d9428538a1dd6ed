"""Made-up source ids against `hookgate serve`: nothing a stranger sends is kept.

A flood of requests to long made-up ids (16 KB each: under the default 32 KiB
`max_header_bytes`, so they reach the app) must neither grow the serving process
nor write long log lines: such ids are refused before any lookup and never
remembered, and the path is clipped in the one line per delivery.
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import httpx
import orjson

from tests.fixtures.serve import ServeProcess
from tests.reliability.readback import migrate_and_add_calendly

REQUESTS = 3000
ID_BYTES = 16 * 1024
CONCURRENCY = 16
MIB = 1024 * 1024


def rss_bytes(pid: int) -> int:
    """The process's resident set now, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


async def flood(url: str, count: int) -> dict[int, int]:
    """POST `count` requests to distinct made-up 16 KB ids; the statuses seen."""
    statuses: dict[int, int] = {}
    remaining = iter(range(count))

    async def worker(client: httpx.AsyncClient) -> None:
        for _ in remaining:
            made_up = "src_" + secrets.token_hex(ID_BYTES // 2)[: ID_BYTES - 4]
            response = await client.post(f"/webhooks/calendly/{made_up}", content=b"{}")
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(CONCURRENCY)))
    return statuses


async def test_made_up_16_kb_source_ids_neither_grow_the_process_nor_the_log(
    tmp_path: Path,
) -> None:
    gateway = ServeProcess.on_loopback(tmp_path)
    migrate_and_add_calendly(gateway)
    server = gateway.start()
    try:
        assert await flood(gateway.url, 200) == {404: 200}  # warm up: allocator, buffers
        before = rss_bytes(server.pid)
        statuses = await flood(gateway.url, REQUESTS)
        grown = rss_bytes(server.pid) - before
    finally:
        server.terminate()
    assert statuses == {404: REQUESTS}
    print(f"\nRSS grew {grown / MIB:.1f} MiB over {REQUESTS} made-up 16 KB ids")
    assert grown < 25 * MIB, f"the process grew {grown / MIB:.1f} MiB"
    lines = [
        orjson.loads(line)
        for line in gateway.log_path.read_text().splitlines()
        if '"message":"delivery"' in line
    ]
    assert len(lines) == REQUESTS + 200
    assert {line["reason"] for line in lines} == {"unknown_source"}
    longest = max(len(orjson.dumps(line)) for line in lines)
    assert longest < 1024, f"a delivery log line is {longest} bytes long"
