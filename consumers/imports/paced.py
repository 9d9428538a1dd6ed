"""Provider API calls for an import, paced by the limits the provider itself publishes.

After every answer the provider's rate headers say how much of its window is left:
PCO `X-PCO-API-Request-Rate-Limit/-Count/-Period` (a fixed window per user), GHL
`X-RateLimit-Max/-Remaining/-Interval-Milliseconds` (100 per 10 s) and
`X-RateLimit-Daily-Remaining`, Calendly `X-RateLimit-Limit/-Remaining/-Reset`. When
the window is spent, the next call waits until it has passed (PCO: a period after the
window's first request; GHL: one interval; Calendly: `Reset` seconds) instead of
spending a request on a 429. A 429 that comes anyway (the limits change, another
client shares them) is obeyed: nothing is sent before its `Retry-After` has passed
(a second without one), and the call is made again, up to `max_retries` times.
A 401 refreshes an OAuth token once (the `Auth`'s `after_401`), as the connection
test does; other refusals raise `ApiError` with the test's codes. Each answer's `Date`
is kept as `provider_time`: the provider's clock, which an incremental sync starts from.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from consumers.oauth.api import ApiError, Auth, ProviderApi

Sleep = Callable[[float], Awaitable[None]]
DEFAULT_RETRY_SECONDS = 1.0
MAX_WAIT_SECONDS = 3600.0


class PacedApi(ProviderApi):
    """`ProviderApi` that waits out the provider's rate window and obeys `Retry-After`."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        base: str,
        auth: Auth,
        *,
        name: str,
        headers: Mapping[str, str] = {},
        sleep: Sleep = asyncio.sleep,
        max_retries: int = 8,
    ) -> None:
        super().__init__(http, base, auth, name=name, headers=headers)
        self._sleep = sleep
        self._max_retries = max_retries
        self._not_before = 0.0
        self._window_started: float | None = None
        self.waits = 0
        """Times a call waited for the rate window (a test counts them)."""
        self.retries = 0
        """429s answered: each one waited for, then retried."""
        self.provider_time: datetime | None = None
        """The `Date` of the provider's latest answer (its clock, not ours)."""

    async def _send(
        self, method: str, url: str, auth: Mapping[str, str], options: dict[str, Any]
    ) -> httpx.Response:
        for _ in range(self._max_retries + 1):
            await self._wait_turn()
            response = await super()._send(method, url, auth, options)
            self.provider_time = _http_date(response.headers.get("date")) or self.provider_time
            if response.status_code != 429:
                self._pace(response.headers)
                return response
            self.retries += 1
            self._not_before = time.monotonic() + _retry_after(response.headers)
        return response

    async def _wait_turn(self) -> None:
        delay = self._not_before - time.monotonic()
        if delay > 0:
            self.waits += 1
            await self._sleep(min(delay, MAX_WAIT_SECONDS))

    def _pace(self, headers: httpx.Headers) -> None:
        """Read the answer's rate headers: wait before the next call if the window is spent.

        PCO's window opens at its first request: the answer's arrival is the latest that
        can have been, so a period from then the window has surely closed."""
        now = time.monotonic()
        if "x-pco-api-request-rate-count" in headers:
            count = _number(headers.get("x-pco-api-request-rate-count"))
            limit = _number(headers.get("x-pco-api-request-rate-limit"))
            period = _number(headers.get("x-pco-api-request-rate-period"))
            if count == 1 or self._window_started is None:
                self._window_started = now
            if limit and count is not None and count >= limit and period:
                self._not_before = max(self._not_before, self._window_started + period + 0.05)
                self._window_started = None
            return
        remaining = _number(headers.get("x-ratelimit-remaining"))
        if remaining is None or remaining > 0:
            return
        interval = _number(headers.get("x-ratelimit-interval-milliseconds"))
        reset = _number(headers.get("x-ratelimit-reset"))
        wait = interval / 1000 if interval else reset if reset else DEFAULT_RETRY_SECONDS
        self._not_before = max(self._not_before, now + wait)


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value.split()[0])
    except (ValueError, IndexError):
        return None


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _retry_after(headers: httpx.Headers) -> float:
    """Seconds `Retry-After` asks for (or the rate reset, or a second), at most an hour."""
    for name in ("retry-after", "x-ratelimit-reset"):
        seconds = _number(headers.get(name))
        if seconds is not None and seconds >= 0:
            return min(seconds, MAX_WAIT_SECONDS) + 0.05
    return DEFAULT_RETRY_SECONDS


__all__ = ["ApiError", "PacedApi"]
