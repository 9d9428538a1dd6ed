"""Sources: one provider account of one tenant, with its secrets encrypted at rest.

`SourceRepository` is the only code that touches the `sources` table. It hands out
decrypted secrets to the ingress (through `SourceCache`) and the Google client,
and never returns them in a `SourceRecord`, so an admin response cannot leak them.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.store.locked import LockedCredentials, locked_credentials
from gateway.store.secretbox import SecretBox
from gateway.store.syncs import latest_syncs
from schemas.google_store import (
    CHANNEL_ACTIVE,
    WRITE_FAILED,
    WRITE_PENDING,
    google_channels,
    google_writes,
)
from schemas.tables import (
    SOURCE_ACTIVE,
    SOURCE_DISCONNECTED,
    WEBHOOKS_NONE,
    oauth_states,
    sources,
)


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
    account: dict[str, Any] | None = None
    """The connected account as the provider names it (`id`, `name`, ...), once known."""
    webhooks: str = WEBHOOKS_NONE
    webhooks_detail: str | None = None
    """Why the webhooks are `manual`, or what was provisioned, in a sentence."""
    subscriptions: tuple[dict[str, str], ...] = ()
    """The subscriptions hookgate made at the provider (`id`, `name`; no secrets)."""
    last_delivery_at: datetime | None = None
    """When the consumers last applied a webhook delivery of the source (to a minute)."""


@dataclass(frozen=True, slots=True)
class SourceSecrets:
    """What the ingress verifies a source's deliveries with, newest first."""

    record: SourceRecord
    secrets: tuple[str, ...] = field(repr=False)
    valid_until: datetime | None
    """When the oldest secret in `secrets` stops being accepted (end of a grace period)."""


class AccountTaken(Exception):
    """The change would give a tenant a second source of the same connected account."""


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

    async def last_syncs(self, source_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The latest sync of each source that has one (`gateway.store.syncs`)."""
        return await latest_syncs(self._engine, source_ids)

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
        if mapping["webhook_secrets_ciphertext"]:
            kept = orjson.loads(self._box.decrypt(mapping["webhook_secrets_ciphertext"]))
            found.extend(value for value in kept if value not in found)
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

    async def channel_expiries(
        self, source_ids: Sequence[str]
    ) -> dict[str, tuple[tuple[str, datetime], ...]]:
        """Each source's active Google channels: (calendar it watches, when it expires)."""
        table = google_channels.c
        query = (
            select(table.source_id, table.calendar_id, table.expires_at)
            .where(table.source_id.in_(list(source_ids)), table.state == CHANNEL_ACTIVE)
            .order_by(table.calendar_id)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        found: dict[str, tuple[tuple[str, datetime], ...]] = {}
        for row in rows:
            expires_at = _aware(row.expires_at)
            if expires_at is not None:
                found[row.source_id] = (
                    *found.get(row.source_id, ()),
                    (row.calendar_id, expires_at),
                )
        return found

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

    async def record_webhooks(
        self,
        source_id: str,
        *,
        state: str,
        detail: str | None,
        subscriptions: Sequence[dict[str, str]],
        secrets: Sequence[str],
        now: datetime,
    ) -> None:
        """What provisioning left at the provider: the `webhooks` state, the subscriptions
        made (to remove at disconnect) and their signing secrets (accepted beside
        `secret`; none: the secrets kept so far are forgotten)."""
        listed = {"items": list(subscriptions), "detail": detail}
        async with self._engine.begin() as conn:
            await conn.execute(
                update(sources)
                .where(sources.c.id == source_id)
                .values(
                    webhooks=state,
                    webhook_subscriptions=orjson.dumps(listed).decode(),
                    webhook_secrets_ciphertext=(
                        self._box.encrypt(orjson.dumps(list(secrets)).decode()) if secrets else None
                    ),
                    updated_at=now,
                )
            )

    async def disconnect(self, source_id: str, *, detail: str, now: datetime) -> None:
        """Status `disconnected`, credentials forgotten; the signing secrets stay so its
        deliveries are still recognised (and refused), and every synced row stays."""
        async with self._engine.begin() as conn:
            await _fail_pending_writes(conn, source_id, now)
            await conn.execute(
                update(sources)
                .where(sources.c.id == source_id)
                .values(
                    status=SOURCE_DISCONNECTED,
                    status_detail=detail,
                    credentials_ciphertext=None,
                    webhooks=WEBHOOKS_NONE,
                    webhook_subscriptions=None,
                    updated_at=now,
                )
            )

    async def set_status(self, source_id: str, status: str, detail: str | None) -> None:
        async with self._engine.begin() as conn:
            if status == SOURCE_DISCONNECTED:
                await _fail_pending_writes(conn, source_id, datetime.now(UTC))
            await conn.execute(
                update(sources)
                .where(sources.c.id == source_id)
                .values(status=status, status_detail=detail, updated_at=datetime.now(UTC))
            )

    async def connect(
        self,
        *,
        provider: str,
        tenant: str,
        account: dict[str, Any],
        credentials: dict[str, str],
        now: datetime,
    ) -> tuple[SourceRecord, bool]:
        """The tenant's source for this account, made or updated with these credentials
        (active again); True when it was made. Reconnecting never makes a second one:
        the unique (provider, tenant, account_id) index settles two callbacks at once."""
        account_id = str(account["id"])
        values = {
            "status": SOURCE_ACTIVE,
            "status_detail": None,
            "credentials_ciphertext": self._box.encrypt(orjson.dumps(credentials).decode()),
            "account": orjson.dumps(account).decode(),
            "updated_at": now,
        }
        mine = (
            (sources.c.provider == provider)
            & (sources.c.tenant == tenant)
            & (sources.c.account_id == account_id)
        )
        for _ in range(2):
            try:
                async with self._engine.begin() as conn:
                    found = (
                        await conn.execute(select(sources.c.id).where(mine))
                    ).scalar_one_or_none()
                    if found is not None:
                        await conn.execute(
                            update(sources).where(sources.c.id == found).values(values)
                        )
                        source_id, created = found, False
                    else:
                        source_id, created = new_source_id(), True
                        await conn.execute(
                            insert(sources).values(
                                id=source_id,
                                provider=provider,
                                tenant=tenant,
                                account_id=account_id,
                                options="{}",
                                created_at=now,
                                **values,
                            )
                        )
            except IntegrityError:
                continue  # made by a concurrent callback meanwhile: update that one
            record = await self.get(source_id)
            if record is not None:
                return record, created
        raise RuntimeError("the source of a connected account could not be written")

    async def change(
        self,
        source_id: str,
        *,
        now: datetime,
        tenant: str | None = None,
        credentials: dict[str, str] | None = None,
        options: dict[str, Any] | None = None,
        account: dict[str, Any] | None = None,
    ) -> SourceRecord | None:
        """Change what is given; new credentials make an errored source active again."""
        values: dict[str, Any] = {"updated_at": now}
        if tenant is not None:
            values["tenant"] = tenant
        if options is not None:
            values["options"] = orjson.dumps(options).decode()
        if account is not None:
            values["account"] = orjson.dumps(account).decode()
        if credentials is not None:
            values["credentials_ciphertext"] = self._box.encrypt(orjson.dumps(credentials).decode())
            values.update(status=SOURCE_ACTIVE, status_detail=None)
        try:
            async with self._engine.begin() as conn:
                result = await conn.execute(
                    update(sources).where(sources.c.id == source_id).values(values)
                )
        except IntegrityError:
            raise AccountTaken(source_id) from None
        return await self.get(source_id) if result.rowcount else None

    def locked_credentials(self, source_id: str) -> AbstractAsyncContextManager[LockedCredentials]:
        """The source's credentials under a lock no other process gets until it ends
        (see `gateway.store.locked`)."""
        return locked_credentials(self._engine, self._box, source_id)

    async def use_oauth_state(
        self, nonce: str, provider: str, *, now: datetime, kept: timedelta
    ) -> bool:
        """Record that an OAuth `state` was taken; False when it was taken before. States
        taken longer than `kept` ago (past their lifetime) are forgotten meanwhile."""
        try:
            async with self._engine.begin() as conn:
                await conn.execute(delete(oauth_states).where(oauth_states.c.used_at < now - kept))
                await conn.execute(
                    insert(oauth_states).values(nonce=nonce, provider=provider, used_at=now)
                )
        except IntegrityError:
            return False
        return True

    async def rekey(self) -> int:
        """Re-encrypt every stored secret under the newest key; returns rows rewritten."""
        columns = (
            sources.c.secret_ciphertext,
            sources.c.previous_secret_ciphertext,
            sources.c.credentials_ciphertext,
            sources.c.webhook_secrets_ciphertext,
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
        listed = orjson.loads(row["webhook_subscriptions"] or "{}")
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
            account=orjson.loads(row["account"]) if row["account"] else None,
            webhooks=row["webhooks"] or WEBHOOKS_NONE,
            webhooks_detail=listed.get("detail"),
            subscriptions=tuple(listed.get("items") or ()),
            last_delivery_at=_aware(row["last_delivery_at"]),
        )


async def _fail_pending_writes(conn: AsyncConnection, source_id: str, now: datetime) -> None:
    """A disconnected source's Google writes still waiting end `failed` at once, whether
    or not a consumer is running to find out (one already running records its result)."""
    await conn.execute(
        update(google_writes)
        .where(google_writes.c.source_id == source_id, google_writes.c.status == WRITE_PENDING)
        .values(
            status=WRITE_FAILED,
            detail="Not written: the source was disconnected.",
            finished_at=now,
        )
    )
