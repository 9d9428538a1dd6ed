"""The consumers' `CredentialStore`, over the gateway's encrypted sources table."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol

from consumers.google.credentials import OAuthCredentials
from consumers.google.errors import SourceInactive
from gateway.store.locked import LockedCredentials
from gateway.store.sources import SourceRecord, SourceRepository
from schemas.tables import SOURCE_ACTIVE

ERROR = "error"


class SourceStore(Protocol):
    """The part of `SourceRepository` this module uses."""

    async def get(self, source_id: str) -> SourceRecord | None: ...

    async def credentials(self, source_id: str) -> dict[str, str]: ...

    async def store_credentials(self, source_id: str, credentials: dict[str, str]) -> None: ...

    async def set_status(self, source_id: str, status: str, detail: str | None) -> None: ...


class RepositoryCredentialStore:
    """Reads and writes a Google source's OAuth credentials through `SourceRepository`."""

    def __init__(self, sources: SourceStore) -> None:
        self._sources = sources

    def __repr__(self) -> str:
        return "RepositoryCredentialStore()"

    async def load(self, source_id: str) -> OAuthCredentials:
        record = await self._sources.get(source_id)
        if record is None or record.provider != "google":
            raise SourceInactive(f"Google source {source_id} does not exist.")
        if record.status != SOURCE_ACTIVE:
            raise SourceInactive(f"Google source {source_id} is {record.status}, not active.")
        stored = await self._sources.credentials(source_id)
        missing = [
            name for name in ("client_id", "client_secret", "refresh_token") if not stored.get(name)
        ]
        if missing:
            raise SourceInactive(
                f"Google source {source_id} has no {', '.join(missing)} in its credentials."
            )
        expires = stored.get("expires_at")
        return OAuthCredentials(
            client_id=stored["client_id"],
            client_secret=stored["client_secret"],
            refresh_token=stored["refresh_token"],
            access_token=stored.get("access_token") or None,
            access_token_expires_at=datetime.fromisoformat(expires) if expires else None,
        )

    async def save_access_token(
        self, source_id: str, access_token: str, expires_at: datetime
    ) -> None:
        stored = await self._sources.credentials(source_id)
        stored.update(access_token=access_token, expires_at=expires_at.isoformat())
        await self._sources.store_credentials(source_id, stored)

    async def mark_error(self, source_id: str, detail: str) -> None:
        await self._sources.set_status(source_id, ERROR, detail)


class RepositoryTokenStore:
    """The consumers' `TokenStore` (OAuth and token credentials of any provider) over
    `SourceRepository`: its per-source lock is `locked_credentials`."""

    def __init__(self, sources: SourceRepository) -> None:
        self._sources = sources

    def __repr__(self) -> str:
        return "RepositoryTokenStore()"

    async def read(self, source_id: str) -> dict[str, str]:
        return await self._sources.credentials(source_id)

    def locked(self, source_id: str) -> AbstractAsyncContextManager[LockedCredentials]:
        return self._sources.locked_credentials(source_id)
