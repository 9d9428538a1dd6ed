"""What the admin API needs from a provider's connection, whoever implements it.

The connect routes (`gateway.admin.connect`) take one `Connector` per provider; the
runtime composes them from the consumers' per-provider code
(`gateway.runtime.connect`), so the gateway never imports the consumers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class ConnectFailed(Exception):
    """The authorization code could not be exchanged, or the account not read."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Connected(Protocol):
    @property
    def account(self) -> Mapping[str, Any]:
        """At least `id` and `name`."""
        ...

    @property
    def credentials(self) -> dict[str, str]: ...


class ConnectionCheck(Protocol):
    @property
    def ok(self) -> bool: ...

    @property
    def latency_ms(self) -> int: ...

    @property
    def account(self) -> Mapping[str, Any] | None: ...

    @property
    def counts(self) -> Mapping[str, int]: ...

    @property
    def error(self) -> str | None:
        """`unauthorized`, `forbidden`, `rate_limited` or `unreachable`."""
        ...

    @property
    def detail(self) -> str | None: ...


class Connector(Protocol):
    """One provider's OAuth connect flow and connection test."""

    @property
    def provider(self) -> str: ...

    @property
    def configured(self) -> bool:
        """Whether the OAuth app (client id and secret) is set."""
        ...

    @property
    def pkce(self) -> bool: ...

    def authorize_url(self, *, redirect_uri: str, state: str, verifier: str | None) -> str: ...

    async def complete(self, *, code: str, redirect_uri: str, verifier: str | None) -> Connected:
        """Exchange the code and learn the account; raises `ConnectFailed`."""
        ...

    async def test(self, source_id: str) -> ConnectionCheck: ...
