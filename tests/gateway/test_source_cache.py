"""The source cache while the store is unreadable: last known entries, else a retry status."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from gateway.ingress.providers import PROVIDERS
from gateway.ingress.source_cache import SourceCache, SourcesUnavailable
from gateway.store.sources import SourceRecord, SourceSecrets

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


class CountingRepository:
    """A store with no sources at all, counting lookups."""

    def __init__(self) -> None:
        self.calls = 0

    async def secrets(self, source_id: str, *, now: datetime) -> SourceSecrets | None:
        self.calls += 1
        return None


def empty_cache(repository: CountingRepository, clock: Clock, kept: int) -> SourceCache:
    return SourceCache(
        repository,  # type: ignore[arg-type]
        PROVIDERS,
        channel_token_keys=(),
        public_keys={},
        tolerances={},
        ttl=5.0,
        unknown_kept=kept,
        monotonic=clock,
    )


async def test_unknown_ids_are_remembered_at_most_kept_and_at_most_the_ttl() -> None:
    repository, clock = CountingRepository(), Clock()
    sources = empty_cache(repository, clock, kept=100)
    for n in range(1000):
        assert await sources.resolve(f"src_unknown{n}", now=NOW) is None
    assert sources.unknown_remembered == 100
    assert repository.calls == 1000
    assert await sources.resolve("src_unknown999", now=NOW) is None
    assert repository.calls == 1000, "a recent unknown id is answered from memory"
    assert await sources.resolve("src_unknown0", now=NOW) is None
    assert repository.calls == 1001, "the oldest were forgotten"
    clock.now = 5.5
    assert await sources.resolve("src_unknown999", now=NOW) is None
    assert repository.calls == 1002, "none is remembered past the TTL"


@pytest.mark.parametrize(
    "made_up",
    ["s" * 65, "src_a/b", "src_ä", "src a", "", "src_%00", "x" * 16_384],
)
async def test_ids_that_cannot_be_ids_are_never_looked_up(made_up: str) -> None:
    repository, clock = CountingRepository(), Clock()
    sources = empty_cache(repository, clock, kept=100)
    assert await sources.resolve(made_up, now=NOW) is None
    assert repository.calls == 0
    assert sources.unknown_remembered == 0


class PausedRepository(FlakyRepository):
    """A lookup that waits, mid-way, until the test lets it finish."""

    def __init__(self) -> None:
        super().__init__()
        self.reading = asyncio.Event()
        self.release = asyncio.Event()

    async def secrets(self, source_id: str, *, now: datetime) -> SourceSecrets | None:
        found = await super().secrets(source_id, now=now)
        self.reading.set()
        await self.release.wait()
        return found


async def test_a_lookup_under_way_when_the_source_changes_is_not_kept() -> None:
    repository, clock = PausedRepository(), Clock()
    sources = cache(repository, clock)
    lookup = asyncio.create_task(sources.resolve("src_a", now=NOW))
    await repository.reading.wait()  # it has read the store: the old secret
    sources.invalidate("src_a")  # an admin change (a rotation) commits meanwhile
    repository.release.set()
    assert await lookup is not None  # answered...
    repository.release = asyncio.Event()
    repository.release.set()
    await sources.resolve("src_a", now=NOW)
    assert repository.calls == 2  # ...but not kept: the next request reads the store again
