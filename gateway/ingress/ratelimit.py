"""Per-source rate limiting: one token bucket per source id, in this process's memory.

Each source may send `rate` deliveries per second on average and `burst` at once.
A delivery past that gets the provider's throttled status with `Retry-After`
(`gateway.ingress.providers.RetryAnswers`: 429 for GHL, 503 for the others). The ingress
keeps two limiters: one spent only by verified deliveries (the genuine sender's
budget), one only by deliveries that failed verification. With several worker
processes each keeps its own buckets, so the effective limit is `workers x rate`.
Buckets are keyed by known source ids only (the check runs after the source lookup),
and idle buckets are dropped, so memory stays bounded.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

PRUNE_EVERY = 1024
"""Acquisitions between sweeps of idle (full) buckets."""


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(
        self, rate: float, burst: int, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        """`rate` tokens per second, at most `burst` saved; `rate <= 0` turns the limit off."""
        self.rate = rate
        self.burst = max(1, burst)
        self._monotonic = monotonic
        self._buckets: dict[str, _Bucket] = {}
        self._since_prune = 0

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def acquire(self, key: str) -> float | None:
        """Take one token for `key`: None when allowed, else the seconds until one is free."""
        if not self.enabled:
            return None
        now = self._monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
        else:
            bucket.tokens = self._tokens(bucket, now)
            bucket.updated = now
        self._since_prune += 1
        if self._since_prune >= PRUNE_EVERY:
            self._prune(now)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return (1.0 - bucket.tokens) / self.rate

    def wait(self, key: str) -> float | None:
        """What `acquire` would answer, without taking a token (a budget spent only by
        failures is checked before each try, and spent after a failed one)."""
        bucket = self._buckets.get(key)
        if not self.enabled or bucket is None:
            return None
        tokens = self._tokens(bucket, self._monotonic())
        return None if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def _tokens(self, bucket: _Bucket, now: float) -> float:
        return min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)

    def _prune(self, now: float) -> None:
        self._since_prune = 0
        refill = self.burst / self.rate
        idle = [k for k, b in self._buckets.items() if now - b.updated >= refill]
        for key in idle:
            del self._buckets[key]


def retry_after_header(wait_seconds: float) -> str:
    """`Retry-After` in whole seconds, at least 1."""
    return str(max(1, math.ceil(wait_seconds)))
