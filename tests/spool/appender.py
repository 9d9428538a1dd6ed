"""A child process for the durability tests: appends and prints what was acknowledged.

`python -m tests.spool.appender PATH [--fsize-limit BYTES]`

Prints `ok <offset> <event_id>` for every acknowledged record (flushed at once), and
`unavailable <detail>` when an append raised `SpoolUnavailable`. With a file-size
limit it keeps going after failures with ever smaller records, then exits.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import signal
import sys

from gateway.bus.spool import Spool, SpoolUnavailable
from tests.spool.records import make_record


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def _append_forever(path: str) -> None:
    async with Spool(path) as spool:
        number = 0
        while True:
            batch = [make_record(n) for n in range(number, number + 20)]
            number += 20
            results = await asyncio.gather(*(spool.append([record]) for record in batch))
            for record, [offset] in zip(batch, results, strict=True):
                _say(f"ok {offset} {record.event_id}")


async def _append_until_full(path: str) -> None:
    async with Spool(path) as spool:
        number = 0
        for padding in (20_000, 20_000, 20_000, 20_000, 20_000, 20_000, 20_000, 20_000, 10):
            records = [make_record(n, padding=padding) for n in range(number, number + 5)]
            number += 5
            try:
                offsets = await spool.append(records)
            except SpoolUnavailable as exc:
                _say(f"unavailable {exc.detail}")
                continue
            for record, offset in zip(records, offsets, strict=True):
                _say(f"ok {offset} {record.event_id}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("path")
    parser.add_argument("--fsize-limit", type=int)
    args = parser.parse_args()
    if args.fsize_limit is None:
        asyncio.run(_append_forever(args.path))
        return
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of dying
    resource.setrlimit(resource.RLIMIT_FSIZE, (args.fsize_limit, args.fsize_limit))
    asyncio.run(_append_until_full(args.path))


if __name__ == "__main__":
    main()
