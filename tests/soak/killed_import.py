"""Soak: a 20,000-person PCO import through `kill -9` of its `hookgate serve`.

    .venv/bin/python -m tests.soak.killed_import [--people 20000] [--limit 100] [--period 5]

Runs tests/imports/killed_import.py on a fresh PostgreSQL database: the emulator's rate
limit (`--limit` requests per `--period` seconds; PCO's own is 100 per 20 s) enforced,
the gateway killed with SIGKILL half-way, another started. Prints what it saw and exits
1 unless the sync completed with exact counts, no page was read more than twice and at
most two were read again.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

from tests.fixtures.postgres import fresh_database
from tests.imports.killed_import import killed_import


async def run(people: int, limit: int, period: float) -> int:
    with tempfile.TemporaryDirectory(prefix="hookgate-soak-import-") as tmp:
        async with fresh_database(migrate=False) as url:
            report = await killed_import(
                Path(tmp), url, people=people, limit=limit, period=period, timeout=600
            )
    print(report.summary())
    problems = report.problems(people)
    for problem in problems:
        print(f"  VIOLATION: {problem}")
    return 1 if problems else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--period", type=float, default=5.0)
    args = parser.parse_args()
    sys.exit(asyncio.run(run(args.people, args.limit, args.period)))


if __name__ == "__main__":
    main()
