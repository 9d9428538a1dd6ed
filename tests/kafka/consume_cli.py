"""`hookgate consume` as operators run it: the console script in a process of its own.

Each process keeps a `--stats-file` (counts and owned partitions) and writes its JSON
logs to a file, so a test can watch it and show what it did when an assertion fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

HOOKGATE = Path(sys.executable).parent / "hookgate"


def consume_env(bootstrap: str, database_url: str, topic_prefix: str) -> dict[str, str]:
    return {
        **os.environ,
        "HOOKGATE_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "HOOKGATE_DATABASE_URL": database_url,
        "HOOKGATE_TOPIC_PREFIX": topic_prefix,
    }


@dataclass
class ConsumeProcess:
    name: str
    process: asyncio.subprocess.Process
    stats_file: Path
    log_file: Path

    def stats(self) -> dict[str, Any]:
        """The worker's last stats (empty before its first write)."""
        try:
            stats: dict[str, Any] = orjson.loads(self.stats_file.read_bytes())
        except FileNotFoundError:
            return {}
        return stats

    def count(self, name: str) -> int:
        """One of the stats' counters (`applied`, `duplicates`, `events`, ...); 0 before any."""
        return int(self.stats().get(name, 0))

    def partitions(self) -> set[str]:
        return set(self.stats().get("partitions", []))

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    async def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM, then the exit code once the worker finished and left its group."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), timeout)

    def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()


async def start_consume(
    name: str, env: dict[str, str], workdir: Path, *args: str
) -> ConsumeProcess:
    """Start `hookgate consume ARGS` with a stats file and a log file in `workdir`."""
    stats_file = workdir / f"{name}.stats.json"
    log_file = workdir / f"{name}.log"
    with log_file.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            str(HOOKGATE),
            "consume",
            "--stats-file",
            str(stats_file),
            *args,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
    return ConsumeProcess(name, process, stats_file, log_file)


@contextlib.asynccontextmanager
async def consuming(
    name: str, env: dict[str, str], workdir: Path, *args: str
) -> AsyncIterator[ConsumeProcess]:
    """A worker that is killed on the way out if the test did not stop it."""
    worker = await start_consume(name, env, workdir, *args)
    try:
        yield worker
    finally:
        worker.kill()
        await worker.process.wait()
