"""Helpers for the provisioning tests: emulators that post their deliveries to the
running gateway, and counting what reached the store."""

from __future__ import annotations

import asyncio
import time

import httpx
from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncEngine


async def post_delivery(url: str, headers: dict[str, str], body: bytes) -> int:
    """What an emulator's `deliver` does: post the signed delivery, return the status."""
    async with httpx.AsyncClient(timeout=10) as client:
        return (await client.post(url, headers=headers, content=body)).status_code


async def rows_of(engine: AsyncEngine, table: Table, tenant: str) -> int:
    async with engine.connect() as conn:
        query = select(func.count()).select_from(table).where(table.c.tenant == tenant)
        return int((await conn.execute(query)).scalar_one())


async def wait_for_rows(
    engine: AsyncEngine, table: Table, tenant: str, at_least: int, timeout: float = 15.0
) -> int:
    """The tenant's rows in `table` once there are `at_least` (the embedded consumers
    apply asynchronously); fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while (count := await rows_of(engine, table, tenant)) < at_least:
        if time.monotonic() > deadline:
            raise AssertionError(f"{table.name}: {count} rows of {tenant}, wanted {at_least}")
        await asyncio.sleep(0.1)
    return count
