"""Where the machine's CPU went during one measured run.

On a small machine the server under test shares the cores with the load generator
and the broker, so a server's throughput can stop growing with more workers simply
because no core is left. Each ingress run records the CPU of the server, the broker
and `wrk`, and how busy the whole machine was, so the table can show it.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tests.bench.table import median
from tests.fixtures.processes import Service, cpu_seconds, descendants

T = TypeVar("T")


def service_cpu(service: Service) -> float:
    """CPU seconds of a service and all its descendants."""
    return sum(cpu_seconds(pid) for pid in [service.pid, *descendants(service.pid)])


def postgres_cpu() -> float:
    """CPU seconds of the PostgreSQL server on this machine, 0 when none runs here.

    Its live processes, plus what its exited backends spent: the postmaster reaps
    them, so their time is in its children's time (a connection's backend exits
    with it).
    """
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as handle:
                name, _, rest = handle.read().partition(" (")[2].rpartition(")")
        except OSError:
            continue
        if name != "postgres":
            continue
        fields = rest.split()
        total += (int(fields[11]) + int(fields[12])) / tick
        if not _is_postgres(int(fields[1])):  # the postmaster: its parent is not postgres
            total += (int(fields[13]) + int(fields[14])) / tick
    return total


def _is_postgres(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/comm") as handle:
            return handle.read().strip() == "postgres"
    except OSError:
        return False


def _children_cpu() -> float:
    """CPU of the children this process has waited for (`wrk` runs as one)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _machine_busy() -> float:
    """CPU seconds the whole machine spent not idle, from /proc/stat."""
    with open("/proc/stat") as handle:
        fields = [int(x) for x in handle.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuShare:
    """Cores used on average during a run (1.0 = one core busy all the time)."""

    server: float
    broker: float
    load: float
    machine: float
    cores: int

    @classmethod
    def median_of(cls, shares: list[CpuShare]) -> CpuShare:
        return cls(
            server=median([s.server for s in shares]),
            broker=median([s.broker for s in shares]),
            load=median([s.load for s in shares]),
            machine=median([s.machine for s in shares]),
            cores=shares[0].cores if shares else 0,
        )

    @property
    def other(self) -> float:
        return max(0.0, self.machine - self.server - self.broker - self.load)

    def describe(self) -> str:
        return (
            f"server {self.server:.0%}, broker {self.broker:.0%}, wrk {self.load:.0%}, "
            f"other {self.other:.0%} of {self.cores * 100}%"
        )


def measure_cpu(server: Service, broker: Service, run: Callable[[], T]) -> tuple[T, CpuShare]:
    """Run `run()` (which waits for `wrk`) and account for the CPU used meanwhile."""
    before = (service_cpu(server), service_cpu(broker), _children_cpu(), _machine_busy())
    started = time.monotonic()
    result = run()
    elapsed = time.monotonic() - started
    after = (service_cpu(server), service_cpu(broker), _children_cpu(), _machine_busy())
    server_s, broker_s, load_s, machine_s = (b - a for a, b in zip(before, after, strict=True))
    share = CpuShare(
        server=server_s / elapsed,
        broker=broker_s / elapsed,
        load=load_s / elapsed,
        machine=machine_s / elapsed,
        cores=len(os.sched_getaffinity(0)),
    )
    return result, share
