"""Durability under faults: kill -9 mid-stream, and a disk that refuses writes."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gateway.bus.spool import Spool

REPO = Path(__file__).resolve().parents[2]


def _start_appender(path: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.spool.appender", str(path), *extra],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _acknowledged(lines: list[str]) -> dict[int, str]:
    acked: dict[int, str] = {}
    for line in lines:
        if line.startswith("ok "):
            _, offset, event_id = line.split()
            acked[int(offset)] = event_id
    return acked


async def test_every_acknowledged_record_survives_kill_9(spool_path: Path) -> None:
    lines: list[str] = []
    deadline = time.monotonic() + 60
    with _start_appender(spool_path) as child:
        assert child.stdout is not None
        assert child.stderr is not None
        try:
            while len(lines) < 2_000 and time.monotonic() < deadline:
                line = child.stdout.readline()
                if not line:
                    break
                lines.append(line.strip())
            child.send_signal(signal.SIGKILL)
        finally:
            child.kill()
            child.wait(10)
        errors = child.stderr.read()
    assert child.returncode == -signal.SIGKILL, errors
    acked = _acknowledged(lines)
    assert len(acked) >= 2_000, f"the child acknowledged too little before the kill: {errors}"

    async with Spool(spool_path) as reopened:
        stored = {offset: record.event_id for offset, record in await reopened.read(0, 1_000_000)}

    missing = {offset: event for offset, event in acked.items() if stored.get(offset) != event}
    assert missing == {}
    # the child was killed mid-stream: it had appended more than we read from its pipe
    assert len(stored) >= len(acked)


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE behaviour is Linux's")
async def test_a_disk_that_refuses_writes_fails_the_batch_with_a_sentence(
    spool_path: Path,
) -> None:
    with _start_appender(spool_path, "--fsize-limit", "200000") as child:
        out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    lines = out.splitlines()
    failures = [line.removeprefix("unavailable ") for line in lines if line.startswith("unav")]
    acked = _acknowledged(lines)

    assert failures, "the size limit never made an append fail"
    assert failures[0] == (
        f"The spool at {spool_path} could not make the records durable: the disk refused"
        " the write (it is full, the file is over its size limit, or the disk is failing)."
    )
    # the writer kept working: small records after the failures were acknowledged
    assert lines[-1].startswith("ok ")
    async with Spool(spool_path) as reopened:
        stored = {offset: record.event_id for offset, record in await reopened.read(0, 10_000)}
    # nothing of a failed batch is readable: exactly the acknowledged records are there
    assert stored == acked
