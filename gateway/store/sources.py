"""Sources: one provider account of one tenant, with its secrets encrypted at rest.

`SourceRepository` is the only code that touches the `sources` table. It hands out
decrypted secrets to the ingress (through `SourceCache`) and the Google client,
and never returns them in a `SourceRecord`, so an admin response cannot leak them.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.store.secretbox import SecretBox
from schemas.google_store import CHANNEL_ACTIVE, google_channels
from schemas.tables import SOURCE_ACTIVE, sources


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """A source as admins see it: no secrets, only whether they are set."""

    id: str
    provider: str
    tenant: str
    status: str
    status_detail: str | None
    options: dict[str, Any]
    has_secret: bool
    has_credentials: bool
    previous_secret_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class SourceSecrets:
    """What the ingress verifies a source's deliveries with, newest first."""

    record: SourceRecord
    secrets: tuple[str, ...] = field(repr=False)
    valid_until: datetime | None
    """When the oldest secret in `secrets` stops being accepted (end of a grace period)."""


def new_source_id() -> str:
    return "src_" + secrets.token_urlsafe(12).replace("-", "x").replace("_", "y")


MAX_SOURCE_ID_CHARS = 64
"""The `sources.id` column's width; ids made here are 20 characters."""
_SOURCE_ID = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_SOURCE_ID_CHARS}}}")


def plausible_source_id(value: str) -> bool:
    """Whether `value` could be a source id at all (length, alphabet): anything else is
    refused before a lookup, so made-up ids cost neither a query nor a cache entry."""
    return _SOURCE_ID.fullmatch(value) is not None


def _aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


class SourceRepository:
    """CRUD over `sources`, encrypting secrets and credentials with the `SecretBox`."""

    def __init__(self, engine: AsyncEngine, box: SecretBox) -> None:
        self._engine = engine
        self._box = box

    async def create(
        self,
        *,
        provider: str,
        tenant: str,
        secret: str | None,
        credentials: dict[str, str] | None,
        options: dict[str, Any] | None,
        now: datetime,
    ) -> SourceRecord:
        source_id = new_source_id()
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(sources).values(
                    id=source_id,
                    provider=provider,
                    tenant=tenant,
                    status=SOURCE_ACTIVE,
                    secret_ciphertext=self._box.encrypt(secret) if secret else None,
                    credentials_ciphertext=(
                        self._box.encrypt(orjson.dumps(credentials).decode())
                        if credentials
                        else None
                    ),
                    options=orjson.dumps(options or {}).decode(),
                    created_at=now,
                    updated_at=now,
                )
            )
        record = await self.get(source_id)
        if record is None:
            raise RuntimeError(f"source {source_id} vanished right after it was created")
        return record

    async def get(self, source_id: str) -> SourceRecord | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(select(sources).where(sources.c.id == source_id))
            ).one_or_none()
        return None if row is None else self._record(row._mapping)

    async def list(self, provider: str | None = None) -> list[SourceRecord]:
        query = select(sources).order_by(sources.c.created_at, sources.c.id)
        if provider:
            query = query.where(sources.c.provider == provider)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [self._record(row._mapping) for row in rows]

    async def remove(self, source_id: str) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(sources).where(sources.c.id == source_id))
        return bool(result.rowcount)

    async def secrets(self, source_id: str, *, now: datetime) -> SourceSecrets | None:
        """The source's current secret and, within its grace period, the previous one."""
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(select(sources).where(sources.c.id == source_id))
            ).one_or_none()
        if row is None:
            return None
        mapping = row._mapping
        found: list[str] = []
        if mapping["secret_ciphertext"]:
            found.append(self._box.decrypt(mapping["secret_ciphertext"]))
        valid_until = _aware(mapping["previous_secret_expires_at"])
        if mapping["previous_secret_ciphertext"] and valid_until and valid_until > now:
            found.append(self._box.decrypt(mapping["previous_secret_ciphertext"]))
        else:
            valid_until = None
        return SourceSecrets(
            record=self._record(mapping), secrets=tuple(found), valid_until=valid_until
        )

    async def live_channels(self, source_id: str) -> dict[str, str]:
        """The source's active Google channels: channel id -> the calendar it watches."""
        table = google_channels.c
        query = select(table.id, table.calendar_id).where(
            table.source_id == source_id, table.state == CHANNEL_ACTIVE
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {row.id: row.calendar_id for row in rows}

    async def options_of(self, provider: str) -> tuple[dict[str, Any], ...]:
        """The options of every source of `provider` (no secrets)."""
        query = select(sources.c.options).where(sources.c.provider == provider)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return tuple(orjson.loads(row.options or "{}") for row in rows)

    async def rotate_secret(
        self, source_id: str, secret: str, *, now: datetime, grace: timedelta
    ) -> SourceRecord | None:
        """Make `secret` current; the old one stays valid until `now + grace` (no grace:
        it is forgotten at once)."""
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    select(sources.c.secret_ciphertext).where(sources.c.id == source_id)
                )
            ).one_or_none()
            if row is None:
                return None
            previous = row.secret_ciphertext if grace > timedelta(0) else None
            await conn.execute(
                update(sources)
                .where(sources.c.id == source_id)
                .values(
                    secret_ciphertext=self._box.encrypt(secret),
                    previous_secret_ciphertext=previous,
                    previous_secret_expires_at=(now + grace) if previous else None,
                    updated_at=now,
                )
            )
        return await self.get(source_id)

    async def credentials(self, source_id: str) -> dict[str, str]:
        async with self._engine.connect() as conn:
            value = (
                await conn.execute(
                    select(sources.c.credentials_ciphertext).where(sources.c.id == source_id)
                )
            ).scalar_one_or_none()
        if not value:
            return {}
        decoded: dict[str, str] = orjson.loads(self._box.decrypt(value))
        return decoded

    async def store_credentials(self, source_id: str, credentials: dict[str, str]) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                update(sources)
                .where(sources.c.id == source_id)
                .values(
                    credentials_ciphertext=self._box.encrypt(orjson.dumps(credentials).decode()),
                    updated_at=datetime.now(UTC),
                )
            )

    async def set_status(self, source_id: str, status: str, detail: str | None) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                update(sources)
                .where(sources.c.id == source_id)
                .values(status=status, status_detail=detail, updated_at=datetime.now(UTC))
            )

    async def rekey(self) -> int:
        """Re-encrypt every stored secret under the newest key; returns rows rewritten."""
        columns = (
            sources.c.secret_ciphertext,
            sources.c.previous_secret_ciphertext,
            sources.c.credentials_ciphertext,
        )
        count = 0
        async with self._engine.begin() as conn:
            rows = (await conn.execute(select(sources.c.id, *columns))).all()
            for row in rows:
                values = {
                    column.name: self._box.rotate(row._mapping[column.name])
                    for column in columns
                    if row._mapping[column.name]
                }
                if values:
                    await conn.execute(
                        update(sources).where(sources.c.id == row.id).values(**values)
                    )
                    count += 1
        return count

    @staticmethod
    def _record(row: Any) -> SourceRecord:
        return SourceRecord(
            id=row["id"],
            provider=row["provider"],
            tenant=row["tenant"],
            status=row["status"],
            status_detail=row["status_detail"],
            options=orjson.loads(row["options"] or "{}"),
            has_secret=bool(row["secret_ciphertext"]),
            has_credentials=bool(row["credentials_ciphertext"]),
            previous_secret_expires_at=_aware(row["previous_secret_expires_at"]),
            created_at=_aware(row["created_at"]) or row["created_at"],
            updated_at=_aware(row["updated_at"]) or row["updated_at"],
        )
