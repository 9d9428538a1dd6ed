"""The source cache while the store is unreadable: last known entries, else a retry status."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.providers import PROVIDERS
from gateway.source_cache import SourceCache, SourcesUnavailable
from gateway.sources import SourceRecord, SourceSecrets

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
RECORD = SourceRecord(
    id="src_a",
    provider="pco",
    tenant="acme",
    status="active",
    status_detail=None,
    options={},
    has_secret=True,
    has_credentials=False,
    previous_secret_expires_at=None,
    created_at=NOW,
    updated_at=NOW,
)


class FlakyRepository:
    """The repository's `secrets` call, readable until the store goes away."""

    def __init__(self) -> None:
        self.down = False
        self.calls = 0

    async def secrets(self, source_id: str, *, now: datetime) -> SourceSecrets | None:
        self.calls += 1
        if self.down:
            raise ConnectionRefusedError("the store is unreachable")
        return SourceSecrets(record=RECORD, secrets=("s3cret",), valid_until=None)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def cache(repository: FlakyRepository, clock: Clock) -> SourceCache:
    return SourceCache(
        repository,  # type: ignore[arg-type]
        PROVIDERS,
        channel_token_keys=(),
        public_keys={},
        tolerances={},
        ttl=5.0,
        monotonic=clock,
    )


async def test_a_known_source_keeps_its_last_entry_while_the_store_is_down() -> None:
    repository, clock = FlakyRepository(), Clock()
    sources = cache(repository, clock)
    first = await sources.resolve("src_a", now=NOW)
    repository.down = True
    clock.now = 10.0  # the entry expired
    again = await sources.resolve("src_a", now=NOW)
    assert again is first
    calls = repository.calls
    clock.now = 10.5  # within the one-second retry: no new lookup
    assert await sources.resolve("src_a", now=NOW) is first
    assert repository.calls == calls
    repository.down = False
    clock.now = 12.0
    assert await sources.resolve("src_a", now=NOW) is not None
    assert repository.calls == calls + 1


async def test_an_unseen_source_raises_sources_unavailable_while_the_store_is_down() -> None:
    repository, clock = FlakyRepository(), Clock()
    repository.down = True
    with pytest.raises(SourcesUnavailable):
        await cache(repository, clock).resolve("src_a", now=NOW)
