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


class ProviderRefused(Exception):
    """The provider refused or could not be reached while provisioning or removing
    webhooks; `code` as in a connection test (`forbidden`, `unreachable`, ...)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class Webhooks(Protocol):
    """What provisioning a source's webhooks left at the provider."""

    @property
    def state(self) -> str:
        """`provisioned` or `manual`."""
        ...

    @property
    def detail(self) -> str: ...

    @property
    def subscriptions(self) -> list[dict[str, str]]:
        """What to remove at disconnect: `id` and `name` each."""
        ...

    @property
    def secrets(self) -> list[str]:
        """Signing secrets kept beside the source's secret (PCO: one per subscription)."""
        ...

    @property
    def signing_key(self) -> str | None:
        """A key hookgate chose, to become the source's secret (Calendly)."""
        ...


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

    async def provision(
        self, source_id: str, *, url: str, account: Mapping[str, Any]
    ) -> Webhooks | None:
        """Make (or find) the source's webhooks at the provider; None where the provider
        has no API for them. Raises `ProviderRefused`."""
        ...

    async def unprovision(self, source_id: str, subscriptions: list[dict[str, str]]) -> None:
        """Remove what `provision` made. Raises `ProviderRefused`."""
        ...

    async def revoke(self, source_id: str) -> bool:
        """Revoke the source's token where the provider can; whether it did."""
        ...
