"""Child processes of the benchmark: started in their own session, always cleaned up.

Every service the bench starts (broker, gateway, reference servers, consumer) is a
`Service`: its own process group, its output in a log file, stopped by its process
group id with SIGTERM, then SIGKILL. Peak memory is read from `/proc/<pid>/status`
(`VmHWM`) of the process and its descendants while they are alive.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

STOP_SECONDS = 25.0


class BenchError(Exception):
    """The benchmark could not run a step; the sentence says which and why."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def children(pid: int) -> list[int]:
    """Direct children of `pid` (from /proc)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            return [int(part) for part in handle.read().split()]
    except OSError:
        return []


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    pending = [pid]
    while pending:
        current = pending.pop()
        kids = children(current)
        found += kids
        pending += kids
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used, 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_bytes(pid: int) -> int:
    """The process's peak resident set size (`VmHWM`), 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return 0
    return 0


@dataclass
class Service:
    """A started child process (and the group it leads)."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    port: int | None = None
    peak_seen: dict[int, int] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def signal(self, signum: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signum)

    def sample_memory(self) -> None:
        """Remember each live process's `VmHWM` (workers may exit before we look again)."""
        for pid in [self.pid, *descendants(self.pid)]:
            peak = peak_rss_bytes(pid)
            if peak:
                self.peak_seen[pid] = max(peak, self.peak_seen.get(pid, 0))

    def worker_peak_rss(self) -> int:
        """The largest `VmHWM` of the serving processes: the workers under a supervisor,
        or the process itself when it has no children."""
        self.sample_memory()
        workers = {pid: peak for pid, peak in self.peak_seen.items() if pid != self.pid}
        return max(workers.values()) if workers else self.peak_seen.get(self.pid, 0)

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if not self.alive():
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGCONT)
            os.killpg(self.pid, signal.SIGTERM)
        try:
            self.process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            self.process.wait(5)


class Services:
    """Starts services and stops every one of them, newest first, on `close`."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._started: list[Service] = []

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        port: int | None = None,
    ) -> Service:
        log_path = self.log_dir / f"{name}.log"
        merged = {**os.environ, **(env or {})}
        with log_path.open("ab") as log_file:
            process = subprocess.Popen(
                list(argv),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=merged,
                start_new_session=True,
            )
        service = Service(name, process, log_path, port)
        self._started.append(service)
        return service

    def stop(self, service: Service) -> None:
        service.stop()
        if service in self._started:
            self._started.remove(service)

    def close(self) -> None:
        while self._started:
            self._started.pop().stop()

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def wait_http_ok(service: Service, path: str = "/healthz", timeout: float = 40.0) -> None:
    """Wait until `GET path` on the service's port answers 200."""
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{service.port}{path}"
    while time.monotonic() < deadline:
        if not service.alive():
            raise BenchError(f"{service.name} exited at start:\n{service.tail()}")
        with (
            contextlib.suppress(OSError, urllib.error.URLError),
            urllib.request.urlopen(url, timeout=2) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.1)
    raise BenchError(
        f"{service.name} did not answer {path} within {timeout:g} s:\n{service.tail()}"
    )


@contextlib.contextmanager
def paused(service: Service) -> Iterator[None]:
    """SIGSTOP the service for the block (connections stay open, nothing is answered)."""
    service.signal(signal.SIGSTOP)
    try:
        yield
    finally:
        service.signal(signal.SIGCONT)
