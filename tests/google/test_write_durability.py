"""A write accepted (202) survives `kill -9` of `hookgate serve` before it ran."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from tests.fixtures.gateway import ADMIN_TOKEN
from tests.fixtures.google import GoogleAccount
from tests.fixtures.serve import ServeProcess
from tests.google.test_writes import EVENT

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CALENDAR = "team@example.com"


async def _status(admin: httpx.AsyncClient, write_id: str) -> dict[str, Any]:
    response = await admin.get(f"/admin/google/writes/{write_id}", headers=AUTH)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _settled(admin: httpx.AsyncClient, write_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (found := await _status(admin, write_id))["status"] == "pending":
        assert time.monotonic() < deadline, f"write {write_id} still pending"
        await asyncio.sleep(0.2)
    return found


async def test_a_write_accepted_before_kill_9_runs_after_the_restart(
    google_account: GoogleAccount, store_url: str, tmp_path: Path
) -> None:
    gateway = ServeProcess.on_loopback(
        tmp_path,
        database_url=store_url,
        google_api_base=google_account.api_base,
        google_token_url=google_account.token_url,
        google_write_poll_seconds=3600,  # the first process never gets to run it
    )
    server = gateway.start()
    try:
        async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as admin:
            created = await admin.post(
                "/admin/sources",
                json={
                    "provider": "google",
                    "tenant": "acme",
                    "credentials": google_account.credentials(),
                },
                headers=AUTH,
            )
            assert created.status_code == 201, created.text
            source_id = created.json()["id"]
            accepted = await admin.post(
                f"/admin/google/{source_id}/events",
                json={"calendar_id": CALENDAR, "event": EVENT},
                headers=AUTH,
            )
            assert accepted.status_code == 202, accepted.text
            write_id = accepted.json()["write_id"]
    finally:
        server.kill()
    assert google_account.emulator.counters.writes == 0

    gateway.settings["google_write_poll_seconds"] = 0.2
    restarted = gateway.start()
    try:
        async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as admin:
            done = await _settled(admin, write_id, timeout=20)
    finally:
        restarted.terminate()

    assert done["status"] == "done", done
    assert list(google_account.emulator.live_events(CALENDAR)) == [done["google_event_id"]]
