"""`python -m tests.bench.run [--quick] [--only SECTION ...]`: measure hookgate on this machine.

Starts a tansu broker, a fresh PostgreSQL database on 127.0.0.1:5432, the gateway
(`hookgate serve`) and the reference servers, drives them with `wrk`, and prints
one table: each figure beside its reference measured in the same run, and the
target it must reach. Everything listens on loopback and is stopped at the end.
`--quick` runs every part briefly (a smoke test of the script, not a measurement);
`--workers`, `--runs` and `--seconds` narrow the ingress section while tuning.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from tests.bench.apply import ApplyOptions, apply_lines, run_apply
from tests.bench.google import GoogleOptions, google_lines, run_google
from tests.bench.imports import ImportOptions, import_lines, run_import
from tests.bench.ingress import IngressOptions, ingress_lines, run_ingress
from tests.bench.stack import open_stack
from tests.bench.table import Line, render
from tests.fixtures.processes import ServiceError
from tests.fixtures.wrk import require_wrk

SECTIONS = ("ingress", "apply", "google", "import")


@dataclass(frozen=True)
class BenchOptions:
    sections: tuple[str, ...] = SECTIONS
    ingress: IngressOptions = field(default_factory=IngressOptions)
    apply: ApplyOptions = field(default_factory=ApplyOptions)
    google: GoogleOptions = field(default_factory=GoogleOptions)
    imports: ImportOptions = field(default_factory=ImportOptions)

    @classmethod
    def quick(cls, sections: tuple[str, ...] = SECTIONS) -> BenchOptions:
        return cls(
            sections=sections,
            ingress=IngressOptions(
                workers=(1,), runs=1, seconds=1.0, warmup_seconds=3.0, bodies=50
            ),
            apply=ApplyOptions(events=3_000),
            google=GoogleOptions(events=200, notifications=100),
            imports=ImportOptions(people=1_000, limit=10, period=1.0),
        )


@dataclass
class BenchReport:
    lines: list[Line]
    notes: list[str]
    seconds: float

    def render(self) -> str:
        parts = [render(self.lines)]
        if self.notes:
            parts.append("\n".join(f"note: {note}" for note in self.notes))
        parts.append(
            f"{platform.python_implementation()} {platform.python_version()}, "
            f"{_cpus()} CPUs, whole run {self.seconds:.0f} s"
        )
        return "\n\n".join(parts)


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


async def run_bench(options: BenchOptions, workdir: Path) -> BenchReport:
    started = time.monotonic()
    if "ingress" in options.sections:
        require_wrk()
    lines: list[Line] = []
    notes: list[str] = []
    async with open_stack(workdir) as stack:
        if "ingress" in options.sections:
            figures = await run_ingress(stack, options.ingress)
            lines += ingress_lines(figures, options.ingress.connections)
            notes += figures.log
        if "apply" in options.sections:
            applied = await run_apply(stack, options.apply)
            lines += apply_lines(applied)
        if "google" in options.sections:
            synced = await run_google(stack, options.google)
            lines += google_lines(synced)
    if "import" in options.sections:
        lines += import_lines(await run_import(options.imports))
    return BenchReport(lines, notes, time.monotonic() - started)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="every part briefly (smoke test)")
    parser.add_argument(
        "--only", action="append", choices=SECTIONS, help="run only this section (repeatable)"
    )
    parser.add_argument(
        "--workers", action="append", type=int, help="ingress: only this worker count (repeatable)"
    )
    parser.add_argument("--runs", type=int, help="ingress: measured runs per server (default 3)")
    parser.add_argument("--seconds", type=float, help="ingress: seconds per run (default 8)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs) afterwards")
    return parser.parse_args(argv)


def options_from(args: argparse.Namespace) -> BenchOptions:
    sections = tuple(args.only or SECTIONS)
    options = BenchOptions.quick(sections) if args.quick else BenchOptions(sections=sections)
    ingress = options.ingress
    if args.workers:
        ingress = replace(ingress, workers=tuple(args.workers))
    if args.runs:
        ingress = replace(ingress, runs=args.runs)
    if args.seconds:
        ingress = replace(ingress, seconds=args.seconds)
    return replace(options, ingress=ingress)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # "unable to connect" while it starts
    options = options_from(args)
    workdir = Path(tempfile.mkdtemp(prefix="hookgate-bench-"))
    try:
        report = asyncio.run(run_bench(options, workdir))
    except ServiceError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    finally:
        if args.keep:
            print(f"logs in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(report.render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
