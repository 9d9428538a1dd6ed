"""Test records: real CloudEvents in the bus's binary binding."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson

from gateway.bus.spool import Spool
from schemas import BusRecord, CloudEvent


def make_event(number: int, *, padding: int = 0) -> CloudEvent:
    return CloudEvent(
        id=f"evt-{number}",
        source="urn:hookgate:calendly:src-1",
        type="calendly.invitee.created",
        time=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        subject=f"invitees/{number}",
        tenant="acme",
        provider="calendly",
        partitionkey=f"acme:invitee-{number}",
        data=orjson.dumps({"n": number, "pad": "x" * padding}),
    )


def make_record(number: int, *, padding: int = 0) -> BusRecord:
    return BusRecord.from_event(make_event(number, padding=padding), "hookgate.calendly")


def make_records(start: int, count: int, *, padding: int = 0) -> list[BusRecord]:
    return [make_record(number, padding=padding) for number in range(start, start + count)]


async def spool_records(path: Path, start: int, count: int) -> None:
    """Append records `start` … `start + count - 1` to the spool file at `path`."""
    async with Spool(path) as spool:
        await spool.append(make_records(start, count))
