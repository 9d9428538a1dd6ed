"""Ingress and store-and-forward: wrk against the gateway and its two references.

For each worker count: the bare Starlette endpoint, the minimal peer (HMAC, JSON,
`send_and_wait` with acks=all), `hookgate serve` (full verification, normalization,
durable Kafka ack), and the same gateway with the broker paused (SIGSTOP), so every
delivery goes to the spool. All are started together, warmed up, then measured in
turns, one at a time, for `runs` rounds; the figures are medians. Each run also
reports the CPU the server used (a saturated server shows ~100% per worker).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.bench.cpu import CpuShare, measure_cpu
from tests.bench.stack import SIGNING_KEY, TOPIC_PARTITIONS, Stack, fresh_broker
from tests.bench.table import Line, median, ratio_line
from tests.fixtures.kafka import create_topics
from tests.fixtures.net import free_port
from tests.fixtures.processes import (
    Service,
    ServiceError,
    paused,
    python_module,
    wait_http_ok,
)
from tests.fixtures.wrk import SignedBodies, WrkResult, run_wrk

MIB = 1024 * 1024
RELAY_SECONDS = 3.0
FAILOVER_SECONDS = 4.0


@dataclass(frozen=True)
class IngressOptions:
    workers: tuple[int, ...] = (1, 2)
    runs: int = 3
    seconds: float = 8.0
    warmup_seconds: float = 3.0
    connections: int = 64
    bodies: int = 1000
    wrk_threads: int = 1


@dataclass(frozen=True)
class Measured:
    rps: float
    p50_ms: float
    p99_ms: float
    runs: tuple[WrkResult, ...]

    @property
    def clean(self) -> bool:
        return all(run.clean for run in self.runs)

    @classmethod
    def of(cls, runs: list[WrkResult]) -> Measured:
        return cls(
            rps=median([r.rps for r in runs]),
            p50_ms=median([r.p50_ms for r in runs]),
            p99_ms=median([r.p99_ms for r in runs]),
            runs=tuple(runs),
        )

    def describe(self) -> str:
        dirty = "" if self.clean else " (errors: see log)"
        return f"{self.rps:,.0f} req/s, p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms{dirty}"


@dataclass
class WorkerFigures:
    workers: int
    bare: Measured
    peer: Measured
    kafka: Measured
    spool: Measured
    gateway_rss: int
    cpu: dict[str, CpuShare]
    """Per server ("bare", "peer", "kafka", "spool"): the median CPU shares of its runs."""


@dataclass
class IngressFigures:
    by_workers: dict[int, WorkerFigures] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _run(
    url: str, bodies: SignedBodies, workdir: Path, options: IngressOptions, seconds: float
) -> WrkResult:
    return run_wrk(
        url,
        bodies,
        workdir,
        seconds=seconds,
        connections=options.connections,
        threads=options.wrk_threads,
    )


def _one_run(
    service: Service,
    broker: Service,
    bodies: SignedBodies,
    workdir: Path,
    options: IngressOptions,
    label: str,
    shares: list[CpuShare],
) -> WrkResult:
    url = f"http://127.0.0.1:{service.port}"
    result, share = measure_cpu(
        service, broker, lambda: _run(url, bodies, workdir, options, options.seconds)
    )
    shares.append(share)
    _say(
        f"  {label}: {result.rps:,.0f} req/s p50 {result.p50_ms:.1f} ms "
        f"p99 {result.p99_ms:.1f} ms ({result.non_2xx} non-2xx, {result.errors} errors; "
        f"CPU: {share.describe()})"
    )
    return result


def _wait_spool_drained(service: Service, timeout: float = 60.0) -> None:
    """Wait until the gateway reports an empty spool (the relay moved it all to Kafka)."""
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{service.port}/metrics"
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=5) as response:
            for line in response.read().decode().splitlines():
                if line.startswith("hookgate_spool_depth_events ") and float(line.split()[1]) == 0:
                    return
        time.sleep(0.5)
    raise ServiceError(f"the gateway's spool did not drain within {timeout:g} s")


def _reference(stack: Stack, app: str, workers: int, topic: str) -> Service:
    port = free_port()
    service = stack.services.start(
        f"{app}-{workers}w",
        python_module("tests.bench.reference", app, "--port", str(port), "--workers", str(workers)),
        env={
            "BENCH_KAFKA_BOOTSTRAP": stack.bootstrap,
            "BENCH_TOPIC": topic,
            "BENCH_SIGNING_KEY": SIGNING_KEY,
        },
        port=port,
    )
    wait_http_ok(service)
    return service


def _gateway(stack: Stack, workers: int) -> Service:
    return stack.services.track(stack.gateway(f"{workers}w", workers).start(timeout=40))


async def run_ingress(stack: Stack, options: IngressOptions) -> IngressFigures:
    """Per worker count, all four servers are up at once and measured in turns.

    The machine is shared, so load from elsewhere comes and goes; taking turns
    (bare, peer, gateway, gateway with the broker paused; `runs` rounds) spreads it
    over every figure instead of landing on whichever server ran during it. Each
    worker count gets a fresh broker (`fresh_broker`), so the second is not measured
    against a broker the first one filled.
    """
    source_id = await stack.calendly_source()
    bodies = SignedBodies.calendly(source_id, SIGNING_KEY, options.bodies)
    figures = IngressFigures()
    for workers in options.workers:
        _say(f"ingress, {workers} worker(s):")
        async with fresh_broker(stack, f"tansu-{workers}w") as section:
            figures.by_workers[workers] = await _measure_workers(section, workers, bodies, options)
    return figures


async def _measure_workers(
    stack: Stack, workers: int, bodies: SignedBodies, options: IngressOptions
) -> WorkerFigures:
    peer_topic = f"{stack.prefix}-peer.calendly"
    await create_topics(stack.bootstrap, [peer_topic], partitions=TOPIC_PARTITIONS)
    services: list[Service] = []
    try:
        bare = _reference(stack, "bare", workers, peer_topic)
        services.append(bare)
        peer = _reference(stack, "peer", workers, peer_topic)
        services.append(peer)
        gateway = _gateway(stack, workers)
        services.append(gateway)
        for service in services:
            url = f"http://127.0.0.1:{service.port}"
            _run(url, bodies, stack.workdir, options, options.warmup_seconds)
        gateway_url = f"http://127.0.0.1:{gateway.port}"
        with paused(stack.broker):  # the spool path's warm-up
            _run(gateway_url, bodies, stack.workdir, options, options.warmup_seconds)
        await asyncio.sleep(RELAY_SECONDS)
        _wait_spool_drained(gateway)
        runs: dict[str, list[WrkResult]] = {"bare": [], "peer": [], "kafka": [], "spool": []}
        shares: dict[str, list[CpuShare]] = {name: [] for name in runs}

        def measure(name: str, service: Service, label: str) -> None:
            result = _one_run(
                service, stack.broker, bodies, stack.workdir, options, label, shares[name]
            )
            runs[name].append(result)

        for _ in range(options.runs):
            measure("bare", bare, "bare")
            measure("peer", peer, "peer")
            measure("kafka", gateway, "hookgate (Kafka)")
            gateway.sample_memory()
            with paused(stack.broker):
                # Steady state: the first requests of an outage wait out the Kafka
                # timeout (2 s) before the gateway fails over; that is not measured.
                _run(gateway_url, bodies, stack.workdir, options, FAILOVER_SECONDS)
                measure("spool", gateway, "hookgate (broker paused)")
                gateway.sample_memory()
            await asyncio.sleep(RELAY_SECONDS)  # the relay drains the spool into Kafka
            _wait_spool_drained(gateway)
        rss = gateway.worker_peak_rss()
    finally:
        for service in reversed(services):
            stack.services.stop(service)
    return WorkerFigures(
        workers=workers,
        bare=Measured.of(runs["bare"]),
        peer=Measured.of(runs["peer"]),
        kafka=Measured.of(runs["kafka"]),
        spool=Measured.of(runs["spool"]),
        gateway_rss=rss,
        cpu={name: CpuShare.median_of(found) for name, found in shares.items()},
    )


def ingress_lines(figures: IngressFigures, connections: int) -> list[Line]:
    lines: list[Line] = []
    for workers, f in sorted(figures.by_workers.items()):
        tag = f"{workers} worker{'s' if workers > 1 else ''}, {connections} conn"
        lines.append(
            ratio_line(
                f"ingress req/s vs peer ({tag})",
                f.kafka.rps,
                "peer",
                f.peer.rps,
                unit="req/s",
                target=1.5,
            )
        )
        lines.append(
            ratio_line(
                f"ingress req/s vs bare Starlette ({tag})",
                f.kafka.rps,
                "bare",
                f.bare.rps,
                unit="req/s",
            )
        )
        lines.append(
            Line(
                f"ingress latency p50 / p99 ({tag})",
                f"{f.kafka.p50_ms:.1f} / {f.kafka.p99_ms:.1f} ms",
                f"peer {f.peer.p50_ms:.1f} / {f.peer.p99_ms:.1f} ms; "
                f"bare {f.bare.p50_ms:.1f} / {f.bare.p99_ms:.1f} ms",
                "",
                "p99 <= 20 ms",
                f.kafka.p99_ms <= 20.0,
            )
        )
        lines.append(
            ratio_line(
                f"store-and-forward req/s, broker paused ({tag})",
                f.spool.rps,
                "Kafka path",
                f.kafka.rps,
                unit="req/s",
                target=0.8,
            )
        )
        lines.append(
            Line(
                f"store-and-forward latency p50 / p99 ({tag})",
                f"{f.spool.p50_ms:.1f} / {f.spool.p99_ms:.1f} ms",
                f"Kafka path {f.kafka.p50_ms:.1f} / {f.kafka.p99_ms:.1f} ms",
            )
        )
        lines.append(
            Line(
                f"gateway peak RSS per worker ({tag})",
                f"{f.gateway_rss / MIB:.0f} MiB",
                "",
                "",
                "<= 150 MiB",
                f.gateway_rss <= 150 * MIB,
            )
        )
        for name, label in (("kafka", "gateway"), ("peer", "peer")):
            share = f.cpu.get(name)
            if share is not None:
                lines.append(
                    Line(f"CPU during the {label} runs ({tag})", share.describe(), "", "", "")
                )
        lines += _cpu_per_delivery_lines(f, tag, connections)
        for name, m in (("bare", f.bare), ("peer", f.peer), ("Kafka", f.kafka), ("spool", f.spool)):
            if not m.clean:
                errors = sum(r.errors + r.non_2xx for r in m.runs)
                figures.log.append(f"{name} ({tag}): {errors} errors or non-2xx answers")
    one, two = figures.by_workers.get(1), figures.by_workers.get(2)
    if one is not None and two is not None:
        lines.append(
            ratio_line(
                "ingress scaling: 2 workers vs 1",
                two.kafka.rps,
                "1 worker",
                one.kafka.rps,
                unit="req/s",
                target=1.7,
            )
        )
        lines += _scaling_ceiling_lines(one, two)
        lines.append(
            ratio_line(
                "peer scaling: 2 workers vs 1 (for comparison)",
                two.peer.rps,
                "1 worker",
                one.peer.rps,
                unit="req/s",
            )
        )
    return lines


def _per_delivery_us(cores: float, rps: float) -> float:
    """CPU microseconds per delivery from cores busy on average and deliveries per second."""
    return cores / rps * 1e6 if rps else 0.0


def _cpu_per_delivery_lines(f: WorkerFigures, tag: str, connections: int) -> list[Line]:
    """What one delivery costs the server and the whole machine, beside what the target
    rate would allow.

    One worker has one core at most: at 1.5x the peer's rate, a delivery may cost it
    no more than `1 / (1.5 x peer rate)`. Everything measured shares the machine's
    cores: divided by what all of it spent per delivery, they give the highest rate
    reachable at that cost. And `wrk` keeps `connections` requests open at all times,
    so their mean latency is `connections / rate` (Little's law): with one worker, at
    least `connections` times its CPU per delivery, whatever else it waits for.
    """
    gateway, peer, bare = f.cpu.get("kafka"), f.cpu.get("peer"), f.cpu.get("bare")
    if gateway is None or peer is None or bare is None or not f.peer.rps or not f.kafka.rps:
        return []
    reference = (
        f"peer {_per_delivery_us(peer.server, f.peer.rps):.0f} us; "
        f"bare {_per_delivery_us(bare.server, f.bare.rps):.0f} us"
    )
    if f.workers == 1:
        allowed = _per_delivery_us(1.0, 1.5 * f.peer.rps)
        reference += f"; 1.5x the peer's rate allows <= {allowed:.0f} us"
    server = _per_delivery_us(gateway.server, f.kafka.rps)
    machine = _per_delivery_us(gateway.machine, f.kafka.rps)
    ceiling = gateway.cores / machine * 1e6 if machine else 0.0
    lines = [
        Line(f"server CPU per delivery ({tag})", f"{server:.0f} us", reference),
        Line(
            f"machine CPU per delivery, all processes ({tag})",
            f"{machine:.0f} us",
            f"{gateway.cores} cores allow {ceiling:,.0f} req/s at that cost; "
            f"1.5x the peer is {1.5 * f.peer.rps:,.0f} req/s",
        ),
    ]
    if f.workers == 1:
        lines.append(
            Line(
                f"ingress mean latency floor, {connections} open requests on one core ({tag})",
                f"{connections * server / 1000:.1f} ms",
                f"{connections} x the server CPU per delivery; a mean under 20 ms asks "
                f"<= {20_000 / connections:.0f} us per delivery",
            )
        )
    return lines


def _scaling_ceiling_lines(one: WorkerFigures, two: WorkerFigures) -> list[Line]:
    """The rate the machine's cores allow at the 2-worker runs' cost, against 1.7x one
    worker's rate."""
    share = two.cpu.get("kafka")
    if share is None or not two.kafka.rps:
        return []
    per_delivery = _per_delivery_us(share.machine, two.kafka.rps)
    ceiling = share.cores / per_delivery * 1e6 if per_delivery else 0.0
    return [
        Line(
            "ingress scaling: the machine's ceiling at the 2-worker cost",
            f"{ceiling:,.0f} req/s",
            f"1.7x one worker is {1.7 * one.kafka.rps:,.0f} req/s",
        )
    ]
