"""Resolves a source id to a ready verifier and normalizer, once per source per TTL.

The ingress must not pay a database round trip and a key parse per request, so a
resolved source (its provider, tenant, a verifier built from its decrypted secrets
and a normalizer bound to its facts: status, options, Google's live channels, the
provider's claims) is kept for `ttl` seconds, or until its previous secret's grace
period ends, whichever is sooner. Concurrent misses for one id share a single lookup.

Unknown ids are remembered too, so a flood of made-up ids costs one query each per
TTL; but nothing a stranger sends is kept without bound: ids that cannot be ids are
refused before they get here (`gateway.store.sources.plausible_source_id`), and at most
`unknown_kept` unknown ids are remembered, each for at most the TTL, the oldest
forgotten first. Known entries are bounded by the sources that exist.

Admin changes in this process invalidate at once (a lookup that was under way when
one came is answered but not kept: it may have read the store before the change);
other worker processes see them within the TTL. While the store cannot be read, a
source seen before keeps its last entry (retried every second); one never seen
raises `SourcesUnavailable`, which the ingress answers with the provider's retry
status.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import DBAPIError

from gateway.ingress.providers import DISCONNECTED, Normalizer, Provider, SourceFacts
from gateway.store.sources import SourceRepository, plausible_source_id
from schemas.ghl_location import Claimant
from verifiers import Verifier, VerifierConfig


class SourcesUnavailable(Exception):
    """The store could not be read and no earlier answer for this source is at hand."""


@dataclass(frozen=True, slots=True)
class ResolvedSource:
    id: str
    tenant: str
    provider: Provider
    verifier: Verifier
    facts: SourceFacts
    normalize: Normalizer
    """The provider's normalizer bound to this source's facts (`Provider.normalizer`)."""
    loaded_at: float = 0.0
    """When it was read from the store (the cache's monotonic clock)."""


log = logging.getLogger(__name__)

LOOKUP_TIMEOUT_SECONDS = 5.0
STALE_RETRY_SECONDS = 1.0
"""While the store is unreadable, a known entry is reused and the store retried this often;
and a source whose facts look out of date is read again at most this often."""
UNKNOWN_KEPT = 4096
"""How many unknown ids are remembered (each for at most the TTL)."""


@dataclass(slots=True)
class _Entry:
    value: ResolvedSource
    expires: float


@dataclass(slots=True)
class _Claims:
    values: Mapping[str, Claimant]
    expires: float


_UNKNOWN = object()
"""What a lookup that found no source gives before it is remembered."""


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
        unknown_kept: int = UNKNOWN_KEPT,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._repository = repository
        self._providers = providers
        self._channel_token_keys = channel_token_keys
        self._public_keys = public_keys
        self._tolerances = tolerances
        self._ttl = ttl
        self._unknown_kept = max(0, unknown_kept)
        self._monotonic = monotonic
        self._entries: dict[str, _Entry] = {}
        self._unknown: OrderedDict[str, float] = OrderedDict()
        """Unknown ids -> when that answer expires, oldest first."""
        self._claims: dict[str, _Claims] = {}
        self._inflight: dict[str, asyncio.Future[ResolvedSource | None]] = {}
        self._changes = 0
        """Invalidations so far: a lookup that saw one happen keeps nothing."""

    @property
    def unknown_remembered(self) -> int:
        return len(self._unknown)

    def invalidate(self, source_id: str) -> None:
        self._changes += 1
        self._entries.pop(source_id, None)
        self._unknown.pop(source_id, None)
        self._claims.clear()  # the source may have held or dropped a claim

    async def reload(self, source: ResolvedSource, *, now: datetime) -> ResolvedSource | None:
        """The source read again, unless it was read within the last second."""
        if self._monotonic() - source.loaded_at < STALE_RETRY_SECONDS:
            return source
        entry = self._entries.get(source.id)
        if entry is not None and entry.value is source:
            entry.expires = 0.0
        return await self.resolve(source.id, now=now)

    async def resolve(self, source_id: str, *, now: datetime) -> ResolvedSource | None:
        if not plausible_source_id(source_id):
            return None
        clock = self._monotonic()
        entry = self._entries.get(source_id)
        if entry is not None and entry.expires > clock:
            return entry.value
        unknown_until = self._unknown.get(source_id)
        if unknown_until is not None and unknown_until > clock:
            return None
        pending = self._inflight.get(source_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[ResolvedSource | None] = asyncio.get_running_loop().create_future()
        self._inflight[source_id] = future
        changes = self._changes
        try:
            try:
                async with asyncio.timeout(LOOKUP_TIMEOUT_SECONDS):
                    value, lifetime = await self._load(source_id, now)
            except (DBAPIError, OSError, TimeoutError) as exc:
                if entry is None and unknown_until is None:
                    log.warning(
                        "sources unreadable (%s); asking the provider to retry",
                        type(exc).__name__,
                    )
                    raise SourcesUnavailable from None
                log.warning(
                    "sources unreadable (%s); answering from the last known entry",
                    type(exc).__name__,
                )
                value = entry.value if entry is not None else None
                lifetime = STALE_RETRY_SECONDS
            if self._changes == changes:
                self._remember(source_id, value, self._monotonic() + lifetime)
            future.set_result(value)
            return value
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        finally:
            del self._inflight[source_id]

    def _remember(self, source_id: str, value: ResolvedSource | None, expires: float) -> None:
        if value is not None:
            self._unknown.pop(source_id, None)
            self._entries[source_id] = _Entry(value, expires)
            return
        self._entries.pop(source_id, None)
        if self._unknown_kept == 0:
            return
        self._unknown[source_id] = expires
        self._unknown.move_to_end(source_id)
        while len(self._unknown) > self._unknown_kept:
            self._unknown.popitem(last=False)

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
        facts = SourceFacts(
            status=found.record.status,
            options=found.record.options,
            channels=(
                await self._repository.live_channels(source_id) if provider.watches_channels else {}
            ),
            claimed=await self._claimed(provider),
        )
        lifetime = self._ttl
        if found.valid_until is not None:
            lifetime = max(0.0, min(lifetime, (found.valid_until - now).total_seconds()))
        resolved = ResolvedSource(
            id=source_id,
            tenant=found.record.tenant,
            provider=provider,
            verifier=verifier,
            facts=facts,
            normalize=provider.normalizer(facts),
            loaded_at=self._monotonic(),
        )
        return resolved, lifetime

    async def _claimed(self, provider: Provider) -> Mapping[str, Claimant]:
        """What the provider's sources claim (`Provider.claim`) and who holds each, read
        once per TTL for all (of two sources with one claim: the connected, then the
        oldest)."""
        if provider.claim is None:
            return {}
        held = self._claims.get(provider.name)
        if held is not None and held.expires > self._monotonic():
            return held.values
        claim = provider.claim
        values: dict[str, Claimant] = {}
        for source in await self._repository.list(provider.name):
            value = claim(source.options, source.account)
            if value is None:
                continue
            holder = values.get(value)
            if holder is None or (not holder.taking and source.status != DISCONNECTED):
                values[value] = Claimant(
                    source.id, source.tenant, taking=source.status != DISCONNECTED
                )
        self._claims[provider.name] = _Claims(values, self._monotonic() + self._ttl)
        return values
