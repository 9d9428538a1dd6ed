"""Resolves a source id to a ready verifier, once per source per TTL.

The ingress must not pay a database round trip and a key parse per request, so a
resolved source (its provider, tenant and a verifier built from its decrypted
secrets) is kept for `ttl` seconds, or until its previous secret's grace period
ends, whichever is sooner. Concurrent misses for one id share a single lookup,
and unknown ids are remembered too, so a flood of made-up ids costs one query
each per TTL. Admin changes in this process invalidate at once; other worker
processes see them within the TTL. While the store cannot be read, a source seen
before keeps its last entry (retried every second); one never seen raises
`SourcesUnavailable`, which the ingress answers with the provider's retry status.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import DBAPIError

from gateway.providers import Provider
from gateway.sources import SourceRepository
from verifiers import Verifier, VerifierConfig


class SourcesUnavailable(Exception):
    """The store could not be read and no earlier answer for this source is at hand."""


@dataclass(frozen=True, slots=True)
class ResolvedSource:
    id: str
    tenant: str
    provider: Provider
    verifier: Verifier


log = logging.getLogger(__name__)

LOOKUP_TIMEOUT_SECONDS = 5.0
STALE_RETRY_SECONDS = 1.0
"""While the store is unreadable, a known entry is reused and the store retried this often."""


@dataclass(slots=True)
class _Entry:
    value: ResolvedSource | None
    expires: float


class SourceCache:
    def __init__(
        self,
        repository: SourceRepository,
        providers: Mapping[str, Provider],
        *,
        channel_token_keys: tuple[bytes, ...],
        public_keys: Mapping[str, tuple[str, ...]],
        tolerances: Mapping[str, int],
        ttl: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._repository = repository
        self._providers = providers
        self._channel_token_keys = channel_token_keys
        self._public_keys = public_keys
        self._tolerances = tolerances
        self._ttl = ttl
        self._monotonic = monotonic
        self._entries: dict[str, _Entry] = {}
        self._inflight: dict[str, asyncio.Future[ResolvedSource | None]] = {}

    def invalidate(self, source_id: str) -> None:
        self._entries.pop(source_id, None)

    async def resolve(self, source_id: str, *, now: datetime) -> ResolvedSource | None:
        entry = self._entries.get(source_id)
        if entry is not None and entry.expires > self._monotonic():
            return entry.value
        pending = self._inflight.get(source_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[ResolvedSource | None] = asyncio.get_running_loop().create_future()
        self._inflight[source_id] = future
        try:
            try:
                async with asyncio.timeout(LOOKUP_TIMEOUT_SECONDS):
                    value, lifetime = await self._load(source_id, now)
            except (DBAPIError, OSError, TimeoutError) as exc:
                if entry is None:
                    log.warning(
                        "sources unreadable (%s); asking the provider to retry",
                        type(exc).__name__,
                    )
                    raise SourcesUnavailable from None
                log.warning(
                    "sources unreadable (%s); answering from the last known entry",
                    type(exc).__name__,
                )
                value, lifetime = entry.value, STALE_RETRY_SECONDS
            self._entries[source_id] = _Entry(value, self._monotonic() + lifetime)
            future.set_result(value)
            return value
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        finally:
            del self._inflight[source_id]

    async def _load(self, source_id: str, now: datetime) -> tuple[ResolvedSource | None, float]:
        found = await self._repository.secrets(source_id, now=now)
        if found is None:
            return None, self._ttl
        provider = self._providers.get(found.record.provider)
        if provider is None:
            return None, self._ttl
        verifier = provider.build_verifier(
            VerifierConfig(
                source_id=source_id,
                secrets=found.secrets,
                channel_token_keys=self._channel_token_keys,
                public_keys=self._public_keys,
                tolerance_seconds=self._tolerances.get(provider.name),
            )
        )
        lifetime = self._ttl
        if found.valid_until is not None:
            lifetime = max(0.0, min(lifetime, (found.valid_until - now).total_seconds()))
        resolved = ResolvedSource(
            id=source_id, tenant=found.record.tenant, provider=provider, verifier=verifier
        )
        return resolved, lifetime
