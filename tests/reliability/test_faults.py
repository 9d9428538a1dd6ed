"""Faults on a real `hookgate serve` (embedded mode) under load, counted end to end.

Each test records which deliveries got a 200 and reads the store back after a
restart: every acknowledged delivery is there exactly once (bookings are keyed by
invitee), and nothing is there that was never sent.
"""

from __future__ import annotations

import asyncio
import resource
import signal
import time
from pathlib import Path

from tests.fixtures.load import Sender, calendly_load
from tests.fixtures.serve import ServeProcess
from tests.reliability.readback import migrate_and_add_calendly, read_store, wait_stored

LOAD_WORKERS = 16


async def _load_then(
    gateway: ServeProcess, source: str, seconds: float
) -> tuple[Sender, asyncio.Task[None]]:
    load = calendly_load(gateway.url, source)
    running = asyncio.create_task(load.run(LOAD_WORKERS))
    await asyncio.sleep(seconds)
    return load, running


async def test_sigterm_under_load_drains_and_exits_0(tmp_path: Path) -> None:
    gateway = ServeProcess.on_loopback(tmp_path)
    source = migrate_and_add_calendly(gateway)
    server = gateway.start()
    load, running = await _load_then(gateway, source, 3.0)
    server.signal(signal.SIGTERM)
    signalled = time.monotonic()
    while server.alive() and time.monotonic() - signalled < 30:
        await asyncio.sleep(0.05)
    exited_after = time.monotonic() - signalled
    load.stopping = True
    await running
    stderr = gateway.log_tail()
    print(
        f"\nSIGTERM: {load.statuses}; exited {server.process.returncode} after {exited_after:.1f} s"
    )
    assert server.process.returncode == 0, stderr[-3000:]
    assert exited_after < 25
    assert load.bad == [], load.bad[:5]
    assert set(load.statuses) <= {200, "ConnectError", "RemoteProtocolError", "ReadError"}
    assert len(load.acknowledged) > 50
    restarted = gateway.start()
    try:
        stored = await wait_stored(gateway.database_url, load.acknowledged)
    finally:
        restarted.terminate()
    print(f"acknowledged {len(load.acknowledged)}, stored {len(stored)}, sent {len(load.sent)}")
    assert load.acknowledged <= stored <= load.sent


async def test_kill_9_under_load_then_restart_keeps_every_acknowledged_delivery(
    tmp_path: Path,
) -> None:
    gateway = ServeProcess.on_loopback(tmp_path)
    source = migrate_and_add_calendly(gateway)
    server = gateway.start()
    load, running = await _load_then(gateway, source, 3.0)
    server.kill()
    await asyncio.sleep(0.5)
    load.stopping = True
    await running
    restarted = gateway.start()
    try:
        stored = await wait_stored(gateway.database_url, load.acknowledged)
    finally:
        restarted.terminate()
    print(
        f"\nkill -9: {load.statuses}; acknowledged {len(load.acknowledged)}, stored {len(stored)}"
    )
    assert load.bad == [], load.bad[:5]
    assert len(load.acknowledged) > 50
    assert load.acknowledged <= stored <= load.sent
    assert len(stored - load.acknowledged) <= LOAD_WORKERS, "at most the in-flight ones extra"


def _disk_limit(limit_bytes: int) -> None:
    """In the child: files may not grow past `limit_bytes`; writes fail with EFBIG, no signal."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))


async def test_spool_disk_full_answers_503_and_never_2xx_for_what_it_could_not_keep(
    tmp_path: Path,
) -> None:
    gateway = ServeProcess.on_loopback(tmp_path)
    source = migrate_and_add_calendly(gateway)
    largest = max(p.stat().st_size for p in tmp_path.iterdir() if p.is_file())
    limit = largest + 512 * 1024
    server = gateway.start(preexec=lambda: _disk_limit(limit))
    load = calendly_load(gateway.url, source)
    running = asyncio.create_task(load.run(4))
    deadline = time.monotonic() + 60
    while load.statuses.get(503, 0) < 50 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    load.stopping = True
    await running
    server.terminate()
    stderr = gateway.log_tail()
    print(f"\ndisk full: {load.statuses}; acknowledged {len(load.acknowledged)}")
    assert load.statuses.get(503, 0) >= 50, (load.statuses, stderr[-2000:])
    assert load.bad == [], load.bad[:5]
    assert len(load.acknowledged) > 10
    restarted = gateway.start()
    try:
        stored = await wait_stored(gateway.database_url, load.acknowledged)
        await asyncio.sleep(2)
        stored = (await read_store(gateway.database_url)).invitees
    finally:
        restarted.terminate()
    print(f"stored {len(stored)}")
    assert stored == load.acknowledged, "exactly what was acknowledged, nothing refused"
