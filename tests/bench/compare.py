"""`python -m tests.bench.compare BASELINE [--rounds N] [--seconds S] [--workers W]`.

A/B of the gateway's ingress against another checkout of hookgate (say
`git worktree add /tmp/base <rev>`): both gateways are up at once on one broker and
one database, and `wrk` measures them in turns, so load from elsewhere on a shared
machine lands on both alike. The baseline runs from BASELINE's sources
(`PYTHONPATH`), with this checkout's virtual environment. Prints each run, then the
medians: requests per second, p99, and CPU microseconds per request.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import statistics
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.bench.cpu import CpuShare, measure_cpu
from tests.bench.stack import SIGNING_KEY, Stack, open_stack
from tests.fixtures.processes import Service, ServiceError
from tests.fixtures.wrk import SignedBodies, WrkResult, require_wrk, run_wrk


@dataclass(frozen=True)
class Turn:
    result: WrkResult
    cpu: CpuShare

    @property
    def cpu_us_per_request(self) -> float:
        return self.cpu.server / self.result.rps * 1e6 if self.result.rps else 0.0


def _gateway(stack: Stack, name: str, workers: int, extra_env: dict[str, str]) -> Service:
    gateway = stack.gateway(name, workers)
    gateway.extra_env |= extra_env
    return stack.services.track(gateway.start(timeout=40))


async def compare(
    baseline: Path, rounds: int, seconds: float, workers: int, workdir: Path
) -> dict[str, list[Turn]]:
    require_wrk()
    turns: dict[str, list[Turn]] = {"baseline": [], "this": []}
    async with open_stack(workdir) as stack:
        bodies = SignedBodies.calendly(await stack.calendly_source(), SIGNING_KEY, 1000)
        gateways = {
            "baseline": _gateway(stack, "baseline", workers, {"PYTHONPATH": str(baseline)}),
            "this": _gateway(stack, "this", workers, {}),
        }
        urls = {name: f"http://127.0.0.1:{service.port}" for name, service in gateways.items()}
        for url in urls.values():  # warm-up
            run_wrk(url, bodies, workdir, seconds=3, connections=64)
        for _ in range(rounds):
            for name, service in gateways.items():
                url = urls[name]
                result, share = measure_cpu(
                    service,
                    stack.broker,
                    functools.partial(
                        run_wrk, url, bodies, workdir, seconds=seconds, connections=64
                    ),
                )
                turn = Turn(result, share)
                turns[name].append(turn)
                print(
                    f"{name}: {result.rps:,.0f} req/s, p99 {result.p99_ms:.1f} ms, "
                    f"{turn.cpu_us_per_request:.0f} us CPU/request "
                    f"({result.errors + result.non_2xx} errors; {share.describe()})",
                    flush=True,
                )
    return turns


def summary(turns: dict[str, list[Turn]]) -> str:
    lines = []
    for name, found in turns.items():
        lines.append(
            f"{name} median: {statistics.median(t.result.rps for t in found):,.0f} req/s, "
            f"p99 {statistics.median(t.result.p99_ms for t in found):.1f} ms, "
            f"{statistics.median(t.cpu_us_per_request for t in found):.0f} us CPU/request"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.compare", description=__doc__)
    parser.add_argument("baseline", type=Path, help="another hookgate checkout (a git worktree)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # "unable to connect" at start
    if not (args.baseline / "gateway" / "__init__.py").is_file():
        print(f"compare: {args.baseline} is not a hookgate checkout", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="hookgate-compare-") as tmp:
        try:
            turns = asyncio.run(
                compare(args.baseline.resolve(), args.rounds, args.seconds, args.workers, Path(tmp))
            )
        except ServiceError as exc:
            print(f"compare: {exc}", file=sys.stderr)
            return 2
    print(summary(turns))
    return 0


if __name__ == "__main__":
    sys.exit(main())
