"""Append throughput with concurrent callers (a measurement, not a test).

`python -m tests.spool.bench_append [--callers 1 10 100 500] [--per-caller 200]`
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from gateway.bus.spool import Spool
from tests.spool.records import make_record


async def _measure(path: Path, callers: int, per_caller: int) -> str:
    record = make_record(0, padding=500)
    async with Spool(path) as spool:

        async def caller() -> None:
            for _ in range(per_caller):
                await spool.append([record])

        started = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(callers)))
        elapsed = time.perf_counter() - started
        total = callers * per_caller
        transactions = spool.stats.append_transactions
        latency_ms = elapsed / per_caller * 1000
    return (
        f"{callers:>4} callers: {total / elapsed:>9.0f} records/s, {transactions:>5} fsynced"
        f" transactions ({total / transactions:.1f} records each), ~{latency_ms:.1f} ms per append"
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--callers", type=int, nargs="+", default=[1, 10, 100, 500])
    parser.add_argument("--per-caller", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=".") as folder:
        for callers in args.callers:
            path = Path(folder) / f"bench-{callers}.db"
            print(await _measure(path, callers, max(1, args.per_caller * 10 // callers)))


if __name__ == "__main__":
    asyncio.run(main())
