"""Dead letters of the embedded default, kept in the store's `dead_letters` table.

In Kafka mode an event that keeps failing is parked on `{prefix}.dlq`
(`consumers.dlq`); without Kafka it is parked here, in the same form (a
`DeadLetter`: the bus record, the error's class and one payload-free line, the
attempts), so an operator sees it (`hookgate replay --list`, the
`hookgate_dlq_events` gauge) and re-applies it once its cause is fixed
(`hookgate replay`). A row is never deleted: a replayed one keeps its
`replayed_at`, so what was parked and when stays on record.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from consumers.dlq import ReplayReport, describe_error
from schemas import BusRecord, CloudEvent
from schemas.deadletter import DeadLetter
from schemas.tables import dead_letters

log = logging.getLogger(__name__)

Apply = Callable[[Sequence[CloudEvent]], Awaitable[object]]
Clock = Callable[[], datetime]


@dataclass(frozen=True)
class ParkedLetter:
    """What `hookgate replay --list` shows of a dead letter: no key, no payload."""

    id: int
    topic: str
    offset: int
    event_type: str
    event_id: str
    attempts: int
    error_class: str
    error: str
    failed_at: datetime


class DeadLetterTable:
    """Park, count, list and replay the dead letters in the store."""

    def __init__(self, engine: AsyncEngine, *, clock: Clock = lambda: datetime.now(UTC)) -> None:
        self._engine = engine
        self._clock = clock

    async def park(self, letters: Sequence[DeadLetter]) -> None:
        """Store `letters` (one transaction): they are then visible and replayable."""
        if not letters:
            return
        now = self._clock()
        rows = [
            {
                "topic": letter.topic,
                "partition": letter.partition,
                "offset": letter.offset,
                "consumer_group": letter.group,
                "key": letter.key,
                "value": letter.value,
                "headers": _encode_headers(letter.headers),
                "error_class": _text(letter.error_class),
                "error": _text(letter.error),
                "attempts": letter.attempts,
                "failed_at": now,
            }
            for letter in letters
        ]
        async with self._engine.begin() as connection:
            await connection.execute(insert(dead_letters), rows)

    async def pending(self) -> int:
        """How many dead letters wait for a replay."""
        async with self._engine.connect() as connection:
            count = await connection.scalar(
                select(func.count()).select_from(dead_letters).where(_waiting)
            )
        return int(count or 0)

    async def waiting(self) -> list[ParkedLetter]:
        """The dead letters not replayed yet, oldest first."""
        async with self._engine.connect() as connection:
            rows = (
                await connection.execute(select(dead_letters).where(_waiting).order_by(_order))
            ).all()
        return [
            ParkedLetter(
                id=row.id,
                topic=row.topic,
                offset=row.offset,
                event_type=_header(row.headers, "ce_type"),
                event_id=_header(row.headers, "ce_id"),
                attempts=row.attempts,
                error_class=row.error_class,
                error=row.error,
                failed_at=_aware(row.failed_at),
            )
            for row in rows
        ]

    async def replay(self, apply: Apply) -> ReplayReport:
        """Apply each waiting dead letter, oldest first, one at a time: a success is
        marked replayed; a failure stays waiting with its new error and one more
        attempt, and the replay goes on with the next."""
        report = ReplayReport()
        async with self._engine.connect() as connection:
            ids = list(
                (
                    await connection.execute(
                        select(dead_letters.c.id).where(_waiting).order_by(_order)
                    )
                )
                .scalars()
                .all()
            )
        for letter_id in ids:
            await self._replay_one(letter_id, apply, report)
        return report

    async def replay_one(self, letter_id: int, apply: Apply) -> ReplayReport | None:
        """Apply one waiting dead letter as `replay` does; None if no such letter waits."""
        report = ReplayReport()
        if not await self._replay_one(letter_id, apply, report):
            return None
        return report

    async def _replay_one(self, letter_id: int, apply: Apply, report: ReplayReport) -> bool:
        """Apply the letter if it still waits, counted in `report`; whether it waited."""
        async with self._engine.connect() as connection:
            row = (
                await connection.execute(
                    select(dead_letters).where(dead_letters.c.id == letter_id, _waiting)
                )
            ).one_or_none()
        if row is None:  # replayed meanwhile by someone else
            return False
        try:
            await apply([_record(row).to_event()])
        except Exception as exc:  # noqa: BLE001 - recorded on the row; the replay goes on
            error_class, message = describe_error(exc)
            report.failed += 1
            report.errors.append(f"{error_class} {message}")
            await self._mark(
                letter_id,
                error_class=_text(error_class),
                error=_text(message),
                attempts=row.attempts + 1,
                failed_at=self._clock(),
            )
            log.warning("Dead letter %d failed again (%s).", letter_id, error_class)
            return True
        report.replayed += 1
        await self._mark(letter_id, replayed_at=self._clock())
        return True

    async def _mark(self, letter_id: int, **values: Any) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(
                update(dead_letters).where(dead_letters.c.id == letter_id).values(**values)
            )


_waiting = dead_letters.c.replayed_at.is_(None)
_order = dead_letters.c.id


def _encode_headers(headers: Sequence[tuple[str, bytes]]) -> bytes:
    """JSON `[[name, value]]`, each value's bytes as latin-1 text (so they round-trip)."""
    return orjson.dumps([[name, raw.decode("latin-1")] for name, raw in headers])


def _decode_headers(raw: bytes) -> tuple[tuple[str, bytes], ...]:
    return tuple((name, value.encode("latin-1")) for name, value in orjson.loads(raw))


def _header(raw: bytes, name: str) -> str:
    for found, value in _decode_headers(raw):
        if found == name:
            return value.decode("utf-8", "replace")
    return ""


def _record(row: Any) -> BusRecord:
    headers = _decode_headers(row.headers)
    event_id = dict(headers).get("ce_id", b"").decode("utf-8", "replace")
    return BusRecord(
        topic=row.topic,
        key=row.key or b"",
        value=row.value or b"",
        headers=headers,
        event_id=event_id,
    )


def _text(value: str) -> str:
    """PostgreSQL refuses NUL in text; an error line may quote one."""
    return value.replace("\x00", "")


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
