"""What the Google client needs from wherever a source's OAuth credentials live.

The gateway implements `CredentialStore` over its encrypted sources table
(`gateway.runtime.credentials`); consumers only see this protocol.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class OAuthCredentials:
    """A source's OAuth client and tokens; the secrets are kept out of `repr`."""

    client_id: str
    client_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)
    access_token: str | None = field(default=None, repr=False)
    access_token_expires_at: datetime | None = None


class CredentialStore(Protocol):
    """Loads and updates one source's Google credentials."""

    async def load(self, source_id: str) -> OAuthCredentials:
        """The source's credentials; raises `SourceInactive` when it is gone or not active."""
        ...

    async def save_access_token(
        self, source_id: str, access_token: str, expires_at: datetime
    ) -> None:
        """Keep a freshly refreshed access token (encrypted at rest)."""
        ...

    async def mark_error(self, source_id: str, detail: str) -> None:
        """Mark the source `error` with `detail`, a sentence an operator can act on."""
        ...
