"""Driving load with `wrk` (Debian package `wrk`) from pre-signed Calendly deliveries.

The requests file holds one request a line: `path<TAB>signature<TAB>body` (compact
JSON has no raw tabs or newlines). A Lua script builds every request once per wrk
thread and cycles through them; its `done` hook prints the run's figures as JSON.
Calendly signatures are only accepted for 180 s, so the file is written again,
with a fresh timestamp, right before every run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from schemas import samples
from tests.bench.procs import BenchError
from verifiers.calendly import sign

INSTALL_HINT = "wrk is not installed: run `apt-get install wrk` (or `make install-bench-tools`)."

LUA_SCRIPT = r"""
local requests = {}
local index = 0
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("offset", counter * 7919)
end

function init(args)
  for line in io.lines(args[1]) do
    local path, signature, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
    requests[#requests + 1] = wrk.format("POST", path, {
      ["Content-Type"] = "application/json",
      ["Calendly-Webhook-Signature"] = signature,
    }, body)
  end
  index = (offset or 0) % #requests
end

function request()
  index = index % #requests + 1
  return requests[index]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\nBENCH {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    errors: int
    """Socket errors and timeouts."""
    non_2xx: int
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return (self.requests - self.non_2xx) / self.seconds if self.seconds else 0.0

    @property
    def clean(self) -> bool:
        """At most 0.1% of the answers were errors or non-2xx."""
        return (self.errors + self.non_2xx) <= max(1, self.requests // 1000)


def require_wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise BenchError(INSTALL_HINT)
    return found


@dataclass(frozen=True)
class SignedBodies:
    """N distinct Calendly deliveries for one source, signed on demand."""

    path: str
    key: str
    bodies: tuple[bytes, ...]

    @classmethod
    def calendly(cls, source_id: str, key: str, count: int) -> SignedBodies:
        now = datetime.now(UTC)
        bodies = tuple(
            samples.calendly(
                "invitee.created",
                now=now,
                event_uri=f"{samples.CALENDLY_API}/scheduled_events/B{n}",
                invitee_uri=f"{samples.CALENDLY_API}/scheduled_events/B{n}/invitees/I{n}",
                start_time=(now + timedelta(days=3)).replace(microsecond=0),
            )
            for n in range(count)
        )
        return cls(f"/webhooks/calendly/{source_id}", key, bodies)

    def write(self, target: Path) -> Path:
        """Sign every body with the current time and write the requests file."""
        timestamp = int(time.time())
        lines = []
        for body in self.bodies:
            signature = sign(body, self.key, timestamp)["Calendly-Webhook-Signature"]
            lines.append(f"{self.path}\t{signature}\t{body.decode()}")
        target.write_text("\n".join(lines) + "\n")
        return target


def run_wrk(
    url: str,
    requests: SignedBodies,
    workdir: Path,
    *,
    seconds: float,
    connections: int,
    threads: int = 1,
) -> WrkResult:
    """One wrk run against `url`, with freshly signed requests."""
    binary = require_wrk()
    script = workdir / "calendly.lua"
    if not script.exists():
        script.write_text(LUA_SCRIPT)
    request_file = requests.write(workdir / "requests.tsv")
    argv: Sequence[str] = [
        binary,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
        "--",
        str(request_file),
    ]
    completed = subprocess.run(
        argv, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    return parse_output(completed.stdout, completed.stderr)


def parse_output(stdout: str, stderr: str = "") -> WrkResult:
    for line in stdout.splitlines():
        if line.startswith("BENCH "):
            figures = json.loads(line.removeprefix("BENCH "))
            return WrkResult(
                requests=figures["requests"],
                seconds=figures["duration_us"] / 1e6,
                errors=figures["connect"] + figures["read"] + figures["write"] + figures["timeout"],
                non_2xx=figures["status"],
                p50_ms=figures["p50_us"] / 1000,
                p99_ms=figures["p99_us"] / 1000,
            )
    raise BenchError(f"wrk printed no figures:\n{stdout[-2000:]}\n{stderr[-2000:]}")
