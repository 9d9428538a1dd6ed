"""Fixed-window request limits, as the provider emulators enforce them.

A window opens at a key's first request and lasts `period` seconds; every request in it
counts, refused ones too (PCO's 429 body reads "118 of 100 requests per 20 seconds"). A
request past the limit is refused until the window closes, and `Retry-After` says when.
The limiter also counts requests that arrive before a `Retry-After` it gave has passed:
a client that backs off properly never makes one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    count: int
    """Requests in the current window, this one included."""
    remaining: int
    reset_seconds: float
    """Seconds until the window closes."""

    @property
    def retry_after(self) -> str:
        """Whole seconds to wait, at least 1 (the `Retry-After` header value)."""
        return str(max(1, math.ceil(self.reset_seconds)))


@dataclass
class _Window:
    started: float
    count: int = 0
    refused_until: float = 0.0


@dataclass
class LimitCounters:
    requests: int = 0
    refused: int = 0
    """Requests answered 429."""
    ignored_retry_after: int = 0
    """Requests that came while a `Retry-After` given to the same key had not passed."""
    by_key: dict[str, int] = field(default_factory=dict)


class FixedWindowLimiter:
    """`limit` requests per `period` seconds for each key (a user, a location)."""

    def __init__(self, limit: int, period: float, now: Callable[[], datetime]) -> None:
        self.limit = limit
        self.period = period
        self._now = now
        self._windows: dict[str, _Window] = {}
        self.counters = LimitCounters()

    def hit(self, key: str) -> Decision:
        moment = self._now().timestamp()
        window = self._windows.get(key)
        if window is not None and moment < window.refused_until:
            self.counters.ignored_retry_after += 1
        if window is None or moment >= window.started + self.period:
            window = _Window(started=moment, refused_until=0.0)
            self._windows[key] = window
        window.count += 1
        self.counters.requests += 1
        self.counters.by_key[key] = self.counters.by_key.get(key, 0) + 1
        reset = window.started + self.period - moment
        allowed = window.count <= self.limit
        if not allowed:
            self.counters.refused += 1
            window.refused_until = window.started + self.period
        return Decision(
            allowed=allowed,
            limit=self.limit,
            count=window.count,
            remaining=max(0, self.limit - window.count),
            reset_seconds=reset,
        )
