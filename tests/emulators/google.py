"""A Google Calendar API v3 and OAuth token endpoint emulator, for tests on loopback.

It follows Google's documented behaviour (the push and sync guides, the events.list
reference; see /work/shared/providers.md §1):

- `events.list`: `maxResults` (default 250, max 2500), `pageToken`/`nextPageToken`,
  `nextSyncToken` only on the last page, `syncToken` returning everything changed
  since the token with deleted events in their minimal form (`id`, `status:
  cancelled`, `etag`), 410 `fullSyncRequired` for an invalidated token, 400
  `syncTokenWithRequestRestrictions` for `syncToken` with a forbidden parameter or
  `showDeleted=false`, cancelled events in full listings only with `showDeleted=true`.
- `events.watch` and `channels.stop`; optionally delivers notifications (`sync` on
  creation, `exists` on every change) through an injected `deliver` callable.
- The token endpoint: the `refresh_token` grant; `invalid_grant` for a revoked
  refresh token; 401 `authError` for an expired or unknown access token.
- The connect flow through `oauth` (tests/emulators/oauth.py): `/o/oauth2/v2/auth`,
  the authorization-code grant on the same `/token`, `/revoke`; `calendarList.list`,
  `calendars.get` and `/oauth2/v3/userinfo`, where the account's `email` is also the
  id of its primary calendar.
- Writes: `events.get`, `events.insert` (a client-chosen `id` of base32hex
  characters, 5-1024 long; one already taken answers 409 `duplicate`),
  `events.patch` and `events.delete` with `If-Match` (412 `conditionNotMet` on
  another etag; deleting a deleted event answers 410 `deleted`). Every change gets a
  new etag and notifies the calendar's channels, hookgate's own changes included;
  `extendedProperties.private` is kept and returned.
- Faults: queued 429 (with Retry-After), 403 `rateLimitExceeded`, 5xx; and
  `drop_responses`: the next writes are applied but their answer is lost (the
  connection is closed mid-response).

Tests drive it through the methods of `GoogleEmulator` (same process and loop).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from tests.emulators.oauth import OAuthServer
from tests.emulators.oauth_providers import GOOGLE_OAUTH
from tests.emulators.tokens import OAuthAccount, TokenRegistry

FORBIDDEN_WITH_SYNC_TOKEN = (
    "iCalUID",
    "orderBy",
    "privateExtendedProperty",
    "q",
    "sharedExtendedProperty",
    "timeMin",
    "timeMax",
    "updatedMin",
)
ACCESS_TOKEN_SECONDS = 3599
DEFAULT_CHANNEL_TTL = timedelta(days=7)
EVENT_ID = re.compile(r"[a-v0-9]{5,1024}")
"""A client-chosen event id: base32hex (lowercase a-v and digits), 5 to 1024 long."""

Deliver = Callable[[str, dict[str, str]], Awaitable[int]]
"""Posts a notification (address, headers) with an empty body; returns the status."""


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class EmulatedEvent:
    id: str
    summary: str
    start: datetime
    end: datetime
    status: str
    created: datetime
    updated: datetime
    etag: str
    changed_seq: int
    private: dict[str, str] = field(default_factory=dict)
    """`extendedProperties.private`."""

    def resource(self) -> dict[str, Any]:
        """The event as events.list returns it (the minimal form when cancelled)."""
        if self.status == "cancelled":
            return {
                "kind": "calendar#event",
                "etag": self.etag,
                "id": self.id,
                "status": "cancelled",
            }
        return self.full_resource()

    def full_resource(self) -> dict[str, Any]:
        """The event as events.get returns it (all its fields, cancelled or not)."""
        return {
            "kind": "calendar#event",
            "etag": self.etag,
            "id": self.id,
            "status": self.status,
            "htmlLink": f"https://www.google.com/calendar/event?eid={self.id}",
            "created": _rfc3339(self.created),
            "updated": _rfc3339(self.updated),
            "summary": self.summary,
            "start": {"dateTime": _rfc3339(self.start), "timeZone": "UTC"},
            "end": {"dateTime": _rfc3339(self.end), "timeZone": "UTC"},
            "iCalUID": f"{self.id}@google.com",
            "sequence": 0,
            **({"extendedProperties": {"private": dict(self.private)}} if self.private else {}),
        }


@dataclass
class EmulatedCalendar:
    id: str
    events: dict[str, EmulatedEvent] = field(default_factory=dict)
    seq: int = 0


@dataclass
class EmulatedChannel:
    id: str
    calendar_id: str
    resource_id: str
    address: str
    token: str | None
    expiration_ms: int
    message_number: int = 1
    stopped: bool = False


@dataclass
class _Page:
    items: list[dict[str, Any]]
    next_sync_seq: int
    calendar_id: str


@dataclass
class Fault:
    status: int
    reason: str | None
    retry_after: str | None


class DroppedResponse(Response):
    """Starts an answer and closes the connection before its body: the write was
    applied, the client never learns it."""

    def __init__(self) -> None:
        super().__init__(status_code=200, headers={"content-length": "64"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        raise ConnectionAbortedError("the emulator dropped this response")


@dataclass
class Counters:
    list_requests: int = 0
    list_sequences: int = 0
    """Full passes of events.list that reached a page carrying nextSyncToken."""
    token_refreshes: int = 0
    watch_calls: int = 0
    stop_calls: int = 0
    faults_served: int = 0
    most_concurrent_lists: int = 0
    """The most events.list requests that were being answered at once."""
    writes: int = 0
    """events.insert, patch and delete requests that reached the calendar."""
    dropped_responses: int = 0


def _time(value: object) -> datetime | None:
    if not isinstance(value, dict) or not isinstance(value.get("dateTime"), str):
        return None
    return datetime.fromisoformat(value["dateTime"]).astimezone(UTC)


def _times(body: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
    return _time(body.get("start")), _time(body.get("end"))


def _private(body: dict[str, Any]) -> dict[str, str]:
    extended = body.get("extendedProperties")
    private = extended.get("private") if isinstance(extended, dict) else None
    if not isinstance(private, dict):
        return {}
    return {str(key): str(value) for key, value in private.items()}


def _error(status: int, reason: str, message: str, **extra: str) -> JSONResponse:
    body = {
        "error": {
            "errors": [{"domain": "global", "reason": reason, "message": message}],
            "code": status,
            "message": message,
        }
    }
    return JSONResponse(body, status_code=status, headers=extra or None)


class GoogleEmulator:
    """State and Starlette app of one emulated Google account."""

    def __init__(
        self,
        *,
        now: Callable[[], datetime] | None = None,
        registry: TokenRegistry | None = None,
        email: str = "owner@example.com",
    ) -> None:
        self._now = now or (lambda: datetime.now(UTC))
        self.email = email
        self.registry = registry or TokenRegistry(self._now)
        self.oauth = OAuthServer(GOOGLE_OAUTH, self.registry, now=self._now)
        self.calendars: dict[str, EmulatedCalendar] = {}
        self.clients: dict[str, str] = {}
        self._refresh_tokens: dict[str, tuple[str, bool]] = {}
        self._access_tokens: dict[str, datetime] = {}
        self._sync_tokens: dict[str, tuple[str, int]] = {}
        self._invalid_sync_tokens: set[str] = set()
        self._pages: dict[str, _Page] = {}
        self.channels: dict[str, EmulatedChannel] = {}
        self.faults: list[Fault | None] = []
        """What the next Calendar API requests answer, in order (None: the real answer)."""
        self.counters = Counters()
        self.list_seconds = 0.0
        """How long each events.list takes to answer (0: at once), as a real API's round trip."""
        self._listing = 0
        self.deliver: Deliver | None = None
        self.channel_ttl = DEFAULT_CHANNEL_TTL
        self.delivered: list[tuple[str, dict[str, str], int]] = []
        self._ids = itertools.count(1)
        self._clock_ms = 0
        self.drop_responses = 0
        """How many of the next writes are applied with their answer lost."""
        self.app = Starlette(
            routes=[
                Route("/token", self._token, methods=["POST"]),
                Route("/o/oauth2/v2/auth", self.oauth.authorize, methods=["GET"]),
                Route("/o/oauth2/v2/decide", self.oauth.decide, methods=["GET"]),
                Route("/revoke", self.oauth.revoke, methods=["POST"]),
                Route("/oauth2/v3/userinfo", self._userinfo, methods=["GET"]),
                Route("/calendar/v3/users/me/calendarList", self._calendar_list, methods=["GET"]),
                Route(
                    "/calendar/v3/calendars/{calendar_id:path}/events/watch",
                    self._watch,
                    methods=["POST"],
                ),
                Route(
                    "/calendar/v3/calendars/{calendar_id:path}/events", self._list, methods=["GET"]
                ),
                Route(
                    "/calendar/v3/calendars/{calendar_id:path}/events",
                    self._insert,
                    methods=["POST"],
                ),
                Route(
                    "/calendar/v3/calendars/{calendar_id:path}/events/{event_id}",
                    self._event,
                    methods=["GET", "PATCH", "DELETE"],
                ),
                Route("/calendar/v3/channels/stop", self._stop, methods=["POST"]),
                Route(
                    "/calendar/v3/calendars/{calendar_id:path}", self._get_calendar, methods=["GET"]
                ),
            ]
        )

    # ---- test controls ---------------------------------------------------------

    def add_client(self, client_id: str, client_secret: str) -> str:
        """Register an OAuth client; returns a fresh refresh token for it."""
        self.clients[client_id] = client_secret
        self.oauth.add_client(client_id, client_secret)
        refresh = "1//" + secrets.token_urlsafe(24)
        self._refresh_tokens[refresh] = (client_id, False)
        return refresh

    def issue_access_token(self, lifetime: timedelta) -> str:
        token = "ya29." + secrets.token_urlsafe(24)
        self._access_tokens[token] = self._now() + lifetime
        return token

    def account(self) -> OAuthAccount:
        """The OAuth account of this emulated Google user (see `oauth.approve`)."""
        return self.oauth.add_account(OAuthAccount(self.email, self.email, self.email))

    def expire_access_tokens(self) -> None:
        self.registry.expire("google")
        moment = self._now() - timedelta(seconds=1)
        for token in self._access_tokens:
            self._access_tokens[token] = moment

    def revoke_refresh_token(self, refresh_token: str) -> None:
        client_id, _ = self._refresh_tokens[refresh_token]
        self._refresh_tokens[refresh_token] = (client_id, True)
        self._access_tokens.clear()

    def invalidate_sync_tokens(self, calendar_id: str) -> None:
        """Every sync token issued so far for the calendar now answers 410 Gone."""
        for token, (calendar, _) in self._sync_tokens.items():
            if calendar == calendar_id:
                self._invalid_sync_tokens.add(token)

    def inject(
        self,
        status: int,
        *,
        reason: str | None = None,
        retry_after: str | None = None,
        times: int = 1,
        after: int = 0,
    ) -> None:
        """The next `times` Calendar API requests, past the `after` next ones, answer
        `status` (tokens are unaffected)."""
        self.faults.extend([None] * after)
        self.faults.extend(Fault(status, reason, retry_after) for _ in range(times))

    def calendar(self, calendar_id: str) -> EmulatedCalendar:
        return self.calendars.setdefault(calendar_id, EmulatedCalendar(calendar_id))

    async def create_event(
        self,
        calendar_id: str,
        *,
        summary: str,
        start: datetime,
        duration: timedelta = timedelta(hours=1),
    ) -> EmulatedEvent:
        calendar = self.calendar(calendar_id)
        moment = self._tick()
        calendar.seq += 1
        event = EmulatedEvent(
            id=f"ev{next(self._ids):06d}{secrets.token_hex(3)}",
            summary=summary,
            start=start,
            end=start + duration,
            status="confirmed",
            created=moment,
            updated=moment,
            etag=self._etag(moment),
            changed_seq=calendar.seq,
        )
        calendar.events[event.id] = event
        await self._notify(calendar_id)
        return event

    async def update_event(
        self,
        calendar_id: str,
        event_id: str,
        *,
        summary: str | None = None,
        start: datetime | None = None,
        status: str | None = None,
    ) -> EmulatedEvent:
        calendar = self.calendar(calendar_id)
        event = calendar.events[event_id]
        if summary is not None:
            event.summary = summary
        if start is not None:
            event.end = start + (event.end - event.start)
            event.start = start
        if status is not None:
            event.status = status
        self._touch(calendar, event)
        await self._notify(calendar_id)
        return event

    async def cancel_event(self, calendar_id: str, event_id: str) -> EmulatedEvent:
        return await self.update_event(calendar_id, event_id, status="cancelled")

    def live_events(self, calendar_id: str) -> dict[str, EmulatedEvent]:
        """The calendar's events that are not cancelled, by id."""
        return {
            event.id: event
            for event in self.calendar(calendar_id).events.values()
            if event.status != "cancelled"
        }

    # ---- writes ----------------------------------------------------------------

    async def _insert(self, request: Request) -> Response:
        denied = self._authorize(request)
        if denied is not None:
            return denied
        calendar = self.calendar(self._calendar_key(request.path_params["calendar_id"]))
        body = await request.json()
        event_id = body.get("id")
        if event_id is None:
            event_id = f"ev{next(self._ids):06d}{secrets.token_hex(3)}"
        elif not isinstance(event_id, str) or not EVENT_ID.fullmatch(event_id):
            return _error(400, "invalid", "Invalid resource id value.")
        self.counters.writes += 1
        if event_id in calendar.events:
            return _error(409, "duplicate", "The requested identifier already exists.")
        start, end = _times(body)
        if start is None or end is None:
            return _error(400, "required", "Missing end time.")
        moment = self._tick()
        calendar.seq += 1
        event = EmulatedEvent(
            id=event_id,
            summary=str(body.get("summary", "")),
            start=start,
            end=end,
            status=str(body.get("status", "confirmed")),
            created=moment,
            updated=moment,
            etag=self._etag(moment),
            changed_seq=calendar.seq,
            private=_private(body),
        )
        calendar.events[event.id] = event
        await self._notify(calendar.id)
        return self._answer(event.resource())

    async def _event(self, request: Request) -> Response:
        denied = self._authorize(request)
        if denied is not None:
            return denied
        calendar = self.calendar(self._calendar_key(request.path_params["calendar_id"]))
        event = calendar.events.get(request.path_params["event_id"])
        if event is None:
            return _error(404, "notFound", "Not Found")
        if request.method == "GET":
            return JSONResponse(event.full_resource())
        self.counters.writes += 1
        if request.method == "DELETE" and event.status == "cancelled":
            return _error(410, "deleted", "Resource has been deleted")
        expected = request.headers.get("if-match")
        if expected is not None and expected != event.etag:
            return _error(412, "conditionNotMet", "Precondition Failed")
        if request.method == "DELETE":
            event.status = "cancelled"
        else:
            self._patch(event, await request.json())
        self._touch(calendar, event)
        await self._notify(calendar.id)
        if request.method == "DELETE":
            return self._answer(None)
        return self._answer(event.full_resource())

    @staticmethod
    def _patch(event: EmulatedEvent, body: dict[str, Any]) -> None:
        start, end = _times(body)
        if "summary" in body:
            event.summary = str(body["summary"])
        if "status" in body:
            event.status = str(body["status"])
        if start is not None:
            event.start = start
        if end is not None:
            event.end = end
        event.private.update(_private(body))

    def _answer(self, resource: dict[str, Any] | None) -> Response:
        """The write's answer, or none at all while `drop_responses` lasts."""
        if self.drop_responses > 0:
            self.drop_responses -= 1
            self.counters.dropped_responses += 1
            return DroppedResponse()
        if resource is None:
            return Response(status_code=204)
        return JSONResponse(resource)

    # ---- internals -------------------------------------------------------------

    def _tick(self) -> datetime:
        """Now, strictly later than the previous tick (Google's `updated` is in ms)."""
        now_ms = int(self._now().timestamp() * 1000)
        self._clock_ms = max(now_ms, self._clock_ms + 1)
        return datetime.fromtimestamp(self._clock_ms / 1000, UTC)

    def _latest(self) -> datetime:
        """Now, or the last change's time if that is later (see `_tick`)."""
        now_ms = int(self._now().timestamp() * 1000)
        return datetime.fromtimestamp(max(now_ms, self._clock_ms) / 1000, UTC)

    @staticmethod
    def _etag(moment: datetime) -> str:
        return f'"{int(moment.timestamp() * 1_000_000)}"'

    def _touch(self, calendar: EmulatedCalendar, event: EmulatedEvent) -> None:
        moment = self._tick()
        calendar.seq += 1
        event.updated = moment
        event.etag = self._etag(moment)
        event.changed_seq = calendar.seq

    async def _notify(self, calendar_id: str) -> None:
        for channel in list(self.channels.values()):
            if channel.calendar_id == calendar_id and not channel.stopped:
                channel.message_number += 1 + secrets.randbelow(3)
                await self.send_notification(channel, "exists")

    async def send_notification(self, channel: EmulatedChannel, state: str) -> None:
        if self.deliver is None:
            return
        expires = datetime.fromtimestamp(channel.expiration_ms / 1000, UTC)
        headers = {
            "Content-Type": "application/json; utf-8",
            "User-Agent": "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)",
            "X-Goog-Channel-ID": channel.id,
            "X-Goog-Channel-Expiration": expires.strftime("%a, %d %b %Y %H:%M:%S GMT"),
            "X-Goog-Resource-ID": channel.resource_id,
            "X-Goog-Resource-URI": self._resource_uri(channel.calendar_id),
            "X-Goog-Resource-State": state,
            "X-Goog-Message-Number": str(1 if state == "sync" else channel.message_number),
        }
        if channel.token is not None:
            headers["X-Goog-Channel-Token"] = channel.token
        status = await self.deliver(channel.address, headers)
        self.delivered.append((channel.address, headers, status))

    @staticmethod
    def _resource_uri(calendar_id: str) -> str:
        return (
            "https://www.googleapis.com/calendar/v3/calendars/"
            f"{quote(calendar_id, safe='@')}/events?alt=json"
        )

    def _authorize(self, request: Request) -> Response | None:
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ").strip()
        expiry = self._access_tokens.get(token)
        granted = self.registry.lookup("google", token)
        if granted is not None and granted.expires_at is not None:
            expiry = granted.expires_at
        if not header.startswith("Bearer ") or expiry is None or expiry <= self._now():
            return _error(
                401,
                "authError",
                "Invalid Credentials",
                **{"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
            )
        fault = self.faults.pop(0) if self.faults else None
        if fault is not None:
            self.counters.faults_served += 1
            extra = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            reason = fault.reason or (
                "rateLimitExceeded" if fault.status == 429 else "backendError"
            )
            return _error(fault.status, reason, "Injected fault", **extra)
        return None

    async def _token(self, request: Request) -> Response:
        form = {
            name: values[0] for name, values in parse_qs((await request.body()).decode()).items()
        }
        if str(form.get("refresh_token", "")) not in self._refresh_tokens:
            return await self.oauth.token(request)  # the connect flow's grants
        client_id = str(form.get("client_id", ""))
        if self.clients.get(client_id) != str(form.get("client_secret", "")):
            return JSONResponse(
                {"error": "invalid_client", "error_description": "Unauthorized"}, status_code=401
            )
        if form.get("grant_type") != "refresh_token":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        entry = self._refresh_tokens.get(str(form.get("refresh_token", "")))
        if entry is None or entry[1] or entry[0] != client_id:
            return JSONResponse(
                {
                    "error": "invalid_grant",
                    "error_description": "Token has been expired or revoked.",
                },
                status_code=400,
            )
        self.counters.token_refreshes += 1
        token = self.issue_access_token(timedelta(seconds=ACCESS_TOKEN_SECONDS))
        return JSONResponse(
            {
                "access_token": token,
                "expires_in": ACCESS_TOKEN_SECONDS,
                "scope": "https://www.googleapis.com/auth/calendar.readonly",
                "token_type": "Bearer",
            }
        )

    async def _list(self, request: Request) -> Response:
        denied = self._authorize(request)
        if denied is not None:
            return denied
        self.counters.list_requests += 1
        self._listing += 1
        self.counters.most_concurrent_lists = max(
            self.counters.most_concurrent_lists, self._listing
        )
        try:
            if self.list_seconds:
                await asyncio.sleep(self.list_seconds)
        finally:
            self._listing -= 1
        calendar = self.calendar(self._calendar_key(request.path_params["calendar_id"]))
        params = request.query_params
        try:
            max_results = min(int(params.get("maxResults", "250")), 2500)
        except ValueError:
            return _error(400, "invalid", "Invalid value for maxResults")
        if max_results < 1:
            return _error(400, "invalid", "Invalid value for maxResults")
        page_token = params.get("pageToken")
        if page_token is not None:
            page = self._pages.pop(page_token, None)
            if page is None or page.calendar_id != calendar.id:
                return _error(400, "invalid", "Invalid page token value.")
        else:
            built = self._first_page(calendar, params)
            if isinstance(built, Response):
                return built
            page = built
        return self._page_response(page, max_results)

    def _first_page(self, calendar: EmulatedCalendar, params: Any) -> _Page | Response:
        sync_token = params.get("syncToken")
        if sync_token is None:
            show_deleted = params.get("showDeleted") == "true"
            items = [
                event.resource()
                for event in calendar.events.values()
                if show_deleted or event.status != "cancelled"
            ]
            return _Page(items, calendar.seq, calendar.id)
        if any(name in params for name in FORBIDDEN_WITH_SYNC_TOKEN) or (
            params.get("showDeleted") == "false"
        ):
            return _error(400, "invalid", "Sync token cannot be used with request restrictions.")
        if sync_token in self._invalid_sync_tokens:
            return _error(
                410, "fullSyncRequired", "Sync token is no longer valid, a full sync is required."
            )
        found = self._sync_tokens.get(sync_token)
        if found is None or found[0] != calendar.id:
            return _error(400, "invalid", "Invalid sync token value.")
        since = found[1]
        changed = sorted(
            (event for event in calendar.events.values() if event.changed_seq > since),
            key=lambda event: event.changed_seq,
        )
        return _Page([event.resource() for event in changed], calendar.seq, calendar.id)

    def _page_response(self, page: _Page, max_results: int) -> Response:
        head, rest = page.items[:max_results], page.items[max_results:]
        body: dict[str, Any] = {
            "kind": "calendar#events",
            "etag": f'"p{page.next_sync_seq}"',
            "summary": page.calendar_id,
            "updated": _rfc3339(self._latest()),
            "timeZone": "UTC",
            "accessRole": "owner",
            "items": head,
        }
        if rest:
            token = "pt_" + secrets.token_urlsafe(12)
            self._pages[token] = _Page(rest, page.next_sync_seq, page.calendar_id)
            body["nextPageToken"] = token
        else:
            token = "st_" + secrets.token_urlsafe(12)
            self._sync_tokens[token] = (page.calendar_id, page.next_sync_seq)
            body["nextSyncToken"] = token
            self.counters.list_sequences += 1
        return JSONResponse(body)

    async def _watch(self, request: Request) -> Response:
        denied = self._authorize(request)
        if denied is not None:
            return denied
        self.counters.watch_calls += 1
        body = await request.json()
        channel_id = body.get("id")
        if not isinstance(channel_id, str) or not channel_id or len(channel_id) > 64:
            return _error(400, "invalid", "Invalid channel id.")
        if channel_id in self.channels:
            return _error(400, "channelIdNotUnique", "Channel id not unique.")
        if body.get("type") != "web_hook" or not str(body.get("address", "")).startswith("http"):
            return _error(400, "invalid", "Invalid channel type or address.")
        token = body.get("token")
        if token is not None and (not isinstance(token, str) or len(token) > 256):
            return _error(400, "invalid", "Channel token too long.")
        limit_ms = int((self._now() + self.channel_ttl).timestamp() * 1000)
        requested = body.get("expiration")
        expiration_ms = min(int(requested), limit_ms) if requested else limit_ms
        calendar_id = self._calendar_key(request.path_params["calendar_id"])
        self.calendar(calendar_id)
        channel = EmulatedChannel(
            id=channel_id,
            calendar_id=calendar_id,
            resource_id="res_" + secrets.token_urlsafe(16),
            address=body["address"],
            token=token,
            expiration_ms=expiration_ms,
        )
        self.channels[channel_id] = channel
        await self.send_notification(channel, "sync")
        result: dict[str, Any] = {
            "kind": "api#channel",
            "id": channel.id,
            "resourceId": channel.resource_id,
            "resourceUri": self._resource_uri(calendar_id),
            "expiration": str(expiration_ms),
        }
        if token is not None:
            result["token"] = token
        return JSONResponse(result)

    async def _stop(self, request: Request) -> Response:
        denied = self._authorize(request)
        if denied is not None:
            return denied
        self.counters.stop_calls += 1
        body = await request.json()
        channel = self.channels.get(str(body.get("id")))
        if channel is None or channel.resource_id != body.get("resourceId") or channel.stopped:
            return _error(404, "notFound", f"Channel '{body.get('id')}' not found for project")
        channel.stopped = True
        return Response(status_code=204)

    def active_channels(self, calendar_id: str | None = None) -> list[EmulatedChannel]:
        return [
            channel
            for channel in self.channels.values()
            if not channel.stopped and calendar_id in (None, channel.calendar_id)
        ]

    # ---- the connect flow's reads ----------------------------------------------

    def _calendar_key(self, calendar_id: str) -> str:
        """The account's email names its primary calendar, as at Google."""
        return "primary" if calendar_id == self.email else calendar_id

    def _list_entry(self, key: str) -> dict[str, Any]:
        primary = key == "primary"
        return {
            "kind": "calendar#calendarListEntry",
            "etag": f'"{self.calendar(key).seq}"',
            "id": self.email if primary else key,
            "summary": self.email if primary else key,
            "timeZone": "UTC",
            "accessRole": "owner",
            **({"primary": True} if primary else {}),
        }

    async def _calendar_list(self, request: Request) -> Response:
        denied = self._authorize(request)
        if denied is not None:
            return denied
        self.calendar("primary")
        try:
            max_results = min(int(request.query_params.get("maxResults", "100")), 250)
            start = int(request.query_params.get("pageToken", "0"))
        except ValueError:
            return _error(400, "invalid", "Invalid maxResults or pageToken value.")
        if max_results < 1:
            return _error(400, "invalid", "Invalid value for maxResults")
        keys = sorted(self.calendars, key=lambda key: (key != "primary", key))
        body: dict[str, Any] = {
            "kind": "calendar#calendarList",
            "etag": f'"{len(keys)}"',
            "items": [self._list_entry(key) for key in keys[start : start + max_results]],
        }
        if start + max_results < len(keys):
            body["nextPageToken"] = str(start + max_results)
        return JSONResponse(body)

    async def _get_calendar(self, request: Request) -> Response:
        denied = self._authorize(request)
        if denied is not None:
            return denied
        key = self._calendar_key(request.path_params["calendar_id"])
        if key not in self.calendars and key != "primary":
            return _error(404, "notFound", "Not Found")
        self.calendar(key)
        entry = self._list_entry(key)
        return JSONResponse(
            {k: entry[k] for k in ("etag", "id", "summary", "timeZone")}
            | {"kind": "calendar#calendar"}
        )

    async def _userinfo(self, request: Request) -> Response:
        token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if self.registry.lookup("google", token) is None and token not in self._access_tokens:
            return _error(401, "authError", "Invalid Credentials")
        subject = str(int(hashlib.sha256(self.email.encode()).hexdigest()[:15], 16))
        return JSONResponse({"sub": subject, "email": self.email, "email_verified": True})
