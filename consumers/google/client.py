"""A small Google Calendar API v3 client on `httpx.AsyncClient`, per source.

It keeps the source's access token fresh: refreshed when it is missing or about to
expire, and once more when Google answers 401; each new token is stored through
the `CredentialStore`. Rate limits (429, 403 `rateLimitExceeded` /
`userRateLimitExceeded`) and server errors are retried with exponential backoff
and full jitter, honouring `Retry-After`. A revoked refresh token marks the source
`error` and raises `RefreshTokenRevoked`. Tokens never reach a log or an error.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx

from consumers.google.credentials import CredentialStore, OAuthCredentials
from consumers.google.errors import (
    GoogleRequestRejected,
    GoogleUnavailable,
    RefreshTokenRevoked,
    SyncTokenGone,
)

log = logging.getLogger(__name__)

RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
REVOKED_DETAIL = (
    "Google refused the refresh token (invalid_grant): access was revoked or the token "
    "expired; reconnect the source with new OAuth credentials."
)
CLIENT_REJECTED_DETAIL = (
    "Google rejected the OAuth client id or secret (invalid_client); "
    "update the source's credentials."
)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter: attempt n waits up to base * 2**n, capped."""

    attempts: int = 6
    base_seconds: float = 0.5
    cap_seconds: float = 30.0

    def delay(self, attempt: int, retry_after: float | None) -> float | None:
        """Seconds to wait before retry `attempt` (0-based), or None when retries are used up."""
        if attempt + 1 >= self.attempts:
            return None
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.cap_seconds)
        return random.uniform(0, min(self.cap_seconds, self.base_seconds * 2**attempt))  # noqa: S311


@dataclass(frozen=True, slots=True)
class EventPage:
    """One page of events.list."""

    items: list[dict[str, Any]]
    next_page_token: str | None
    next_sync_token: str | None
    updated: datetime | None = None
    """The calendar's last modification time, by Google's clock."""


@dataclass(frozen=True, slots=True)
class WatchedChannel:
    """What events.watch answered."""

    id: str
    resource_id: str
    resource_uri: str
    expires_at: datetime


def _retry_after(value: str | None, now: datetime) -> float | None:
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        return (parsedate_to_datetime(value) - now).total_seconds()
    except (TypeError, ValueError):
        return None


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _event_path(calendar_id: str, event_id: str) -> str:
    return f"/calendars/{quote(calendar_id, safe='')}/events/{quote(event_id, safe='')}"


def _reason(response: httpx.Response) -> str | None:
    try:
        body = response.json()
        reason = body["error"]["errors"][0]["reason"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    return reason if isinstance(reason, str) else None


class GoogleCalendarClient:
    """Calendar API calls on behalf of one source."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        credentials: CredentialStore,
        source_id: str,
        *,
        api_base: str,
        token_url: str,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        refresh_margin: timedelta = timedelta(seconds=60),
        on_refresh_failure: Callable[[str], None] = lambda reason: None,
    ) -> None:
        self._http = http
        self._store = credentials
        self.source_id = source_id
        self._api = api_base.rstrip("/") + "/calendar/v3"
        self._token_url = token_url
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._clock = clock
        self._margin = refresh_margin
        self._on_refresh_failure = on_refresh_failure
        """Told why a token refresh failed: revoked, client_rejected, rejected, unavailable."""
        self._token: str | None = None
        self._token_expires_at: datetime | None = None
        self._lock = asyncio.Lock()
        self.refreshes = 0

    def __repr__(self) -> str:
        return f"GoogleCalendarClient(source_id={self.source_id!r})"

    # ---- Calendar API -----------------------------------------------------------

    async def list_events(
        self,
        calendar_id: str,
        *,
        sync_token: str | None = None,
        page_token: str | None = None,
        max_results: int = 250,
    ) -> EventPage:
        """One page of events.list; with a sync token, deleted events come as `cancelled`.

        The first page of a listing checks that the source is still active (the
        cached access token would otherwise outlive a disconnect): `SourceInactive`.
        """
        if page_token is None:
            await self._store.load(self.source_id)
        params: dict[str, str] = {"maxResults": str(max_results), "singleEvents": "false"}
        if sync_token is not None:
            params["syncToken"] = sync_token
        if page_token is not None:
            params["pageToken"] = page_token
        body = await self._call("GET", f"/calendars/{quote(calendar_id, safe='')}/events", params)
        items = body.get("items") or []
        return EventPage(
            items=[item for item in items if isinstance(item, dict)],
            next_page_token=body.get("nextPageToken"),
            next_sync_token=body.get("nextSyncToken"),
            updated=_parse_time(body.get("updated")),
        )

    async def watch(
        self, calendar_id: str, *, channel_id: str, address: str, token: str, expires_at: datetime
    ) -> WatchedChannel:
        """Open a push channel on the calendar's events (events.watch)."""
        body = await self._call(
            "POST",
            f"/calendars/{quote(calendar_id, safe='')}/events/watch",
            json={
                "id": channel_id,
                "type": "web_hook",
                "address": address,
                "token": token,
                "expiration": str(int(expires_at.timestamp() * 1000)),
            },
        )
        expiration = body.get("expiration")
        return WatchedChannel(
            id=str(body["id"]),
            resource_id=str(body["resourceId"]),
            resource_uri=str(body.get("resourceUri", "")),
            expires_at=(
                datetime.fromtimestamp(int(expiration) / 1000, UTC) if expiration else expires_at
            ),
        )

    async def get_event(self, calendar_id: str, event_id: str) -> dict[str, Any]:
        """One event (events.get); a deleted one comes with `status` `cancelled`."""
        return await self._call("GET", _event_path(calendar_id, event_id))

    async def insert_event(self, calendar_id: str, event: Mapping[str, Any]) -> dict[str, Any]:
        """Create an event (events.insert); an `id` already taken answers 409.

        Like every write, it first checks that the source is still active (a cached
        access token would outlive a disconnect): `SourceInactive`.
        """
        await self._store.load(self.source_id)
        path = f"/calendars/{quote(calendar_id, safe='')}/events"
        return await self._call("POST", path, json=dict(event))

    async def patch_event(
        self, calendar_id: str, event_id: str, event: Mapping[str, Any], *, if_match: str | None
    ) -> dict[str, Any]:
        """Change an event (events.patch), only if its etag is `if_match` (else 412)."""
        await self._store.load(self.source_id)
        return await self._call(
            "PATCH", _event_path(calendar_id, event_id), json=dict(event), if_match=if_match
        )

    async def delete_event(self, calendar_id: str, event_id: str, *, if_match: str | None) -> None:
        """Delete an event (events.delete), only if its etag is `if_match` (else 412)."""
        await self._store.load(self.source_id)
        await self._call("DELETE", _event_path(calendar_id, event_id), if_match=if_match)

    async def stop_channel(self, channel_id: str, resource_id: str) -> None:
        """Stop a channel (channels.stop)."""
        await self._call(
            "POST", "/channels/stop", json={"id": channel_id, "resourceId": resource_id}
        )

    # ---- transport ---------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None = None,
        *,
        json: Any = None,
        if_match: str | None = None,
    ) -> dict[str, Any]:
        url = self._api + path
        refreshed = False
        attempt = 0
        while True:
            token = await self._access_token(force_after=None)
            headers = {"Authorization": f"Bearer {token}"}
            if if_match is not None:
                headers["If-Match"] = if_match
            try:
                response = await self._http.request(
                    method, url, params=params, json=json, headers=headers
                )
            except httpx.TransportError as exc:
                await self._backoff(attempt, None, f"{type(exc).__name__} reaching Google")
                attempt += 1
                continue
            status = response.status_code
            if status < 300:
                if status == 204 or not response.content:
                    return {}
                parsed: dict[str, Any] = response.json()
                return parsed
            reason = _reason(response)
            if status == 401 and not refreshed:
                refreshed = True
                await self._access_token(force_after=token)
                continue
            if status == 410 and params is not None and "syncToken" in params:
                raise SyncTokenGone("Google answered 410 Gone: the sync token is no longer valid.")
            if status == 429 or status >= 500 or (status == 403 and reason in RATE_LIMIT_REASONS):
                wait = _retry_after(response.headers.get("retry-after"), self._clock())
                await self._backoff(attempt, wait, f"Google answered {status} ({reason})")
                attempt += 1
                continue
            raise GoogleRequestRejected(
                f"Google rejected {method} {path} with {status} ({reason}).", status
            )

    async def _backoff(self, attempt: int, retry_after: float | None, what: str) -> None:
        delay = self._retry.delay(attempt, retry_after)
        if delay is None:
            raise GoogleUnavailable(f"{what}; gave up after {attempt + 1} attempts.")
        log.info("google: %s; retrying in %.2fs (source %s)", what, delay, self.source_id)
        await self._sleep(delay)

    async def _access_token(self, *, force_after: str | None) -> str:
        """A valid access token; with `force_after`, one other than that (rejected) token."""
        async with self._lock:
            now = self._clock()
            cached = self._usable(self._token, self._token_expires_at, now, force_after)
            if cached is not None:
                return cached
            credentials = await self._store.load(self.source_id)
            expires_at = credentials.access_token_expires_at
            stored = self._usable(credentials.access_token, expires_at, now, force_after)
            if stored is not None:
                self._token, self._token_expires_at = stored, expires_at
                return stored
            try:
                return await self._refresh(credentials)
            except RefreshTokenRevoked as exc:
                self._on_refresh_failure(exc.reason)
                raise
            except GoogleRequestRejected:
                self._on_refresh_failure("rejected")
                raise
            except GoogleUnavailable:
                self._on_refresh_failure("unavailable")
                raise

    def _usable(
        self, token: str | None, expires_at: datetime | None, now: datetime, rejected: str | None
    ) -> str | None:
        """`token` if it is set, not the rejected one and not about to expire."""
        if token is None or token == rejected:
            return None
        if expires_at is not None and expires_at - self._margin <= now:
            return None
        return token

    async def _refresh(self, credentials: OAuthCredentials) -> str:
        form = {
            "grant_type": "refresh_token",
            "client_id": credentials.client_id,
            "client_secret": credentials.client_secret,
            "refresh_token": credentials.refresh_token,
        }
        attempt = 0
        while True:
            try:
                response = await self._http.post(self._token_url, data=form)
            except httpx.TransportError as exc:
                await self._backoff(
                    attempt, None, f"{type(exc).__name__} reaching the token endpoint"
                )
                attempt += 1
                continue
            if response.status_code == 429 or response.status_code >= 500:
                wait = _retry_after(response.headers.get("retry-after"), self._clock())
                await self._backoff(
                    attempt, wait, f"token endpoint answered {response.status_code}"
                )
                attempt += 1
                continue
            break
        error = self._oauth_error(response)
        if error in ("invalid_grant", "invalid_client"):
            detail = REVOKED_DETAIL if error == "invalid_grant" else CLIENT_REJECTED_DETAIL
            log.warning("google: source %s: %s", self.source_id, detail)
            await self._store.mark_error(self.source_id, detail)
            raise RefreshTokenRevoked(
                detail, reason="revoked" if error == "invalid_grant" else "client_rejected"
            )
        if response.status_code >= 300:
            raise GoogleRequestRejected(
                f"The token endpoint answered {response.status_code} ({error}).",
                response.status_code,
            )
        body = response.json()
        token = str(body["access_token"])
        expires_at = self._clock() + timedelta(seconds=int(body.get("expires_in", 3600)))
        await self._store.save_access_token(self.source_id, token, expires_at)
        self._token, self._token_expires_at = token, expires_at
        self.refreshes += 1
        log.info("google: refreshed the access token of source %s", self.source_id)
        return token

    @staticmethod
    def _oauth_error(response: httpx.Response) -> str | None:
        if response.status_code < 400:
            return None
        try:
            error = response.json().get("error")
        except ValueError:
            return None
        return error if isinstance(error, str) else None
