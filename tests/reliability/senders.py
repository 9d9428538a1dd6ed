"""Genuine deliveries of one provider sent concurrently, answers recorded by event id.

Unlike `processes.Load` (Calendly only, counted by invitee) this works for any
provider whose answer carries the event id (`{"id": ...}`), which the consumers'
ledger (`processed_events.event_id`) records: what was acknowledged and what was
applied compare directly.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from tests.gateway.deliveries import Signed


@dataclass
class Sender:
    url: str
    path: str
    """`/webhooks/{provider}/{source_id}`."""
    sign: Callable[[datetime], Signed]
    retry_status: int
    """What the gateway must answer when it cannot keep a delivery (with Retry-After)."""
    acknowledged: set[str] = field(default_factory=set)
    refused: int = 0
    statuses: Counter[int | str] = field(default_factory=Counter)
    bad: list[str] = field(default_factory=list)
    stopping: bool = False

    async def run(self, workers: int, pause: float = 0.0) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            await asyncio.gather(*(self._worker(client, pause) for _ in range(workers)))

    async def _worker(self, client: httpx.AsyncClient, pause: float) -> None:
        while not self.stopping:
            signed = self.sign(datetime.now(UTC))
            try:
                response = await client.post(self.path, content=signed.body, headers=signed.headers)
            except httpx.TransportError as exc:
                self.statuses[type(exc).__name__] += 1
                await asyncio.sleep(0.05)
                continue
            self.statuses[response.status_code] += 1
            if response.status_code == 200:
                self.acknowledged.add(response.json()["id"])
            elif response.status_code == self.retry_status and response.headers.get("retry-after"):
                self.refused += 1
            else:
                self.bad.append(f"{response.status_code} {response.text[:200]}")
            if pause:
                await asyncio.sleep(pause)
