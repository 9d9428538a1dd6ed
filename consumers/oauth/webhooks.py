"""Webhook subscriptions hookgate makes at a provider for a source, and removes again.

A provider with an API for them (`consumers/<provider>/webhooks.py`) says how;
`Provisioned` is what came of it: the `webhooks` state (`provisioned` or `manual`),
a sentence, the subscriptions made (ids and names, to remove at disconnect) and the
signing secrets deliveries will carry (PCO: one per subscription; Calendly: the one
key hookgate chose, which becomes the source's secret).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from consumers.oauth.api import ProviderApi

PROVISIONED = "provisioned"
MANUAL = "manual"


@dataclass(frozen=True, slots=True)
class Provisioned:
    state: str
    detail: str
    subscriptions: list[dict[str, str]] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list, repr=False)
    signing_key: str | None = field(default=None, repr=False)


class WebhookFacts(Protocol):
    """How one provider's subscriptions are made and removed."""

    async def provision(
        self, api: ProviderApi, *, url: str, account: Mapping[str, object]
    ) -> Provisioned:
        """Subscribe `url` to what the consumers handle, reusing or replacing what
        already points there (never a duplicate)."""
        ...

    async def remove(self, api: ProviderApi, subscriptions: Sequence[Mapping[str, str]]) -> None:
        """Delete these subscriptions (one already gone is fine)."""
        ...

    async def lapsed(
        self,
        api: ProviderApi,
        *,
        url: str,
        account: Mapping[str, object],
        subscriptions: Sequence[Mapping[str, str]],
    ) -> int:
        """How many of these subscriptions the provider no longer has, or has disabled
        (Calendly after 24 h of failed deliveries, PCO after ~5 days)."""
        ...
