"""Soak: PostgreSQL unavailable for 30 s (or more) under load, in Kafka and embedded mode.

    .venv/bin/python -m tests.soak.database_outage [--outage-seconds 30] [--mode MODE]

MODE is kafka, embedded or both (the default).

Runs the scenarios of tests/reliability/database_outage.py with a longer outage: a
tansu broker of its own (or `HOOKGATE_TEST_KAFKA`), a fresh database on the test
PostgreSQL server (never stopped: the store is cut off by a TCP proxy), `hookgate
serve` and, in Kafka mode, `hookgate consume`. Prints the counts and exits 1 if an
acknowledged delivery is missing, a row was never sent, or an offset moved while
the database was away.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from tests.fixtures.kafka import EXTERNAL_KAFKA_ENV, running_tansu
from tests.fixtures.postgres import fresh_database
from tests.reliability.database_outage import OutageReport, embedded_mode, kafka_mode
from tests.reliability.readback import counted_violations


@asynccontextmanager
async def broker(workdir: Path) -> AsyncIterator[str]:
    external = os.environ.get(EXTERNAL_KAFKA_ENV)
    if external:
        yield external
        return
    async with running_tansu(workdir / "tansu.log") as started:
        yield started.bootstrap_servers


def violations(report: OutageReport) -> list[str]:
    found = counted_violations(report)
    if report.offsets_moved_during_outage:
        found.append("the committed offset moved while the database was away")
    if report.rows_moved_during_outage:
        found.append("rows appeared while the database was away")
    if report.dead_letters:
        found.append(f"{report.dead_letters} events went to the DLQ for a database outage")
    if not report.offsets_at_cut:
        found.append("nothing was committed before the cut")
    return found


async def run(modes: list[str], outage_seconds: float) -> int:
    failed = False
    for mode in modes:
        with tempfile.TemporaryDirectory(prefix=f"hookgate-soak-db-{mode}-") as tmp:
            workdir = Path(tmp)
            async with fresh_database(migrate=False) as url:
                if mode == "kafka":
                    async with broker(workdir) as bootstrap:
                        prefix = f"soak{uuid.uuid4().hex[:8]}"
                        report = await kafka_mode(bootstrap, url, workdir, prefix, outage_seconds)
                else:
                    report = await embedded_mode(url, workdir, outage_seconds)
        print(report.summary())
        for problem in violations(report):
            failed = True
            print(f"  VIOLATION: {problem}")
    return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outage-seconds", type=float, default=30.0)
    parser.add_argument("--mode", choices=["kafka", "embedded", "both"], default="both")
    args = parser.parse_args()
    modes = ["kafka", "embedded"] if args.mode == "both" else [args.mode]
    sys.exit(asyncio.run(run(modes, args.outage_seconds)))


if __name__ == "__main__":
    main()
