"""A `hookgate consume` worker that also reports what it did, for the apply section.

`python -m tests.bench.consumer --expect N --summary PATH` runs the same runner,
applier and registry as `hookgate consume` (configured from `HOOKGATE_*` through
`gateway.commands.consume.runner_config`, with its collector tuning `tune_gc`, and its
`ConsumerMetrics`: the applier reports to them and the runner calls the instrumented
apply, as in production), observes every batch, stops once `N` events were applied,
and writes a JSON summary: events, batches, statements, the time from the first
batch's start to the last batch's end, the process CPU time from the first batch's end
to the last one's (and the events applied in between), and its own `VmHWM`.
"""

from __future__ import annotations

import argparse
import os
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import orjson
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import create_async_engine

from consumers.apply import Applier, ApplyResult
from consumers.kafka_runner import KafkaRunner, run_until_signalled
from consumers.metrics import ConsumerMetrics
from consumers.providers import build_registry
from gateway.cli import run_on_uvloop
from gateway.commands.consume import (
    CONSUMER_GC_GEN0_THRESHOLD,
    handled_providers,
    runner_config,
)
from gateway.runtime.tuning import tune_gc
from gateway.settings import Settings
from tests.fixtures.processes import peak_rss_bytes


@dataclass
class ConsumerSummary:
    events: int = 0
    batches: int = 0
    statements: int = 0
    apply_seconds: float = 0.0
    first_started: float = 0.0
    last_finished: float = 0.0
    peak_rss_bytes: int = 0
    cpu_seconds: float = 0.0
    """Process CPU (user and system) from the first batch's end to the last batch's end."""
    cpu_events: int = 0
    """Events applied in that span: all but the first batch's."""
    first_cpu: float = 0.0
    batch_sizes: list[int] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return max(self.last_finished - self.first_started, 1e-9)

    @property
    def cpu_per_event(self) -> float:
        """Seconds of the consumer's CPU per event applied (fetch, decode, apply, commit)."""
        return self.cpu_seconds / self.cpu_events if self.cpu_events else 0.0


class _Observer:
    """The production metrics' `observe`, then the summary's."""

    def __init__(
        self,
        metrics: ConsumerMetrics,
        summary: ConsumerSummary,
        expect: int,
        runner: list[KafkaRunner],
    ) -> None:
        self._metrics = metrics
        self.summary = summary
        self._expect = expect
        self._runner = runner

    def observe(self, result: ApplyResult, seconds: float) -> None:
        self._metrics.observe(result, seconds)
        now = time.monotonic()
        cpu = time.process_time()
        summary = self.summary
        count = result.applied + result.duplicates + result.unhandled
        if summary.batches == 0:
            summary.first_started = now - seconds
            summary.first_cpu = cpu
        else:
            summary.cpu_seconds = cpu - summary.first_cpu
            summary.cpu_events += count
        summary.last_finished = now
        summary.batches += 1
        summary.events += count
        summary.batch_sizes.append(count)
        summary.statements += result.statements
        summary.apply_seconds += seconds
        if summary.events >= self._expect:
            self._runner[0].stop()


async def consume(expect: int, summary_path: Path, max_batch: int) -> None:
    settings = Settings()
    registry = build_registry()
    args = argparse.Namespace(
        group=None, max_batch=max_batch, max_retries=3, session_timeout_ms=10_000
    )
    config = runner_config(settings, args, handled_providers(registry))
    engine = create_async_engine(settings.database_url)
    summary = ConsumerSummary()
    holder: list[KafkaRunner] = []
    metrics = ConsumerMetrics(CollectorRegistry(), event_types=registry.event_types)
    applier = Applier(engine, registry, metrics=_Observer(metrics, summary, expect, holder))
    try:
        runner = KafkaRunner(config, metrics.instrument(applier.apply), prepare=applier.prepare)
        holder.append(runner)
        tune_gc(CONSUMER_GC_GEN0_THRESHOLD)  # as `hookgate consume` does before it runs
        await run_until_signalled(runner, signal.SIGTERM, signal.SIGINT)
    finally:
        await engine.dispose()
    summary.peak_rss_bytes = peak_rss_bytes(os.getpid())
    summary_path.write_bytes(orjson.dumps(asdict(summary)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--expect", type=int, required=True)
    parser.add_argument("--summary", type=Path, required=True)
    parser.add_argument("--max-batch", type=int, default=500)
    args = parser.parse_args()
    run_on_uvloop(consume(args.expect, args.summary, args.max_batch))


if __name__ == "__main__":
    main()
