"""A Calendly API v2 emulator, with its OAuth server.

It follows /work/shared/provider-apis.md §3:

- OAuth (`/oauth/authorize`, `/oauth/token`): client credentials by HTTP Basic or in the
  body, PKCE S256, 10-minute codes, 2 h access tokens, single-use rotating refresh
  tokens, 8 token requests per user per minute (429 with `Retry-After`); the token answer
  carries `owner` and `organization` URIs and `created_at`.
- `Authorization: Bearer` with an OAuth token or a personal access token.
- `GET /users/me`; `GET /scheduled_events` (`organization` needs an admin or owner,
  or `user`; `min_start_time` inclusive, `max_start_time` exclusive, `status`,
  `invitee_email`, `sort=start_time:asc|desc`, `count` 1 to 100, `page_token`);
  `GET /scheduled_events/{uuid}` and `…/invitees` (paged the same way, by `created_at`).
- `GET /event_types` (`organization` or `user`, `count`, `page_token`; `event_types:read`)
  and `GET /event_types/{uuid}`; an invitee scheduled through an event type's link
  carries the link's UTM parameters in `tracking` (`add_invitee(..., tracking=…)`).
- Webhook subscriptions: create (201; 409 for a URL the organization already has; 403
  on a plan without webhooks or for organization scope without admin rights), list by
  `organization` and `scope`, get, delete; `disable_subscription` marks one `disabled`
  as Calendly does after 24 h of failed deliveries.
- Per-user limits by plan (500 a minute paid, 50 free) with `X-RateLimit-Limit`,
  `-Remaining`, `-Reset` on every answer and 429 past them.

Resource URIs start with `uri_base` (set it to the served base so they can be followed).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.emulators.faults import Faults
from tests.emulators.oauth import OAuthServer
from tests.emulators.oauth_providers import CALENDLY_OAUTH
from tests.emulators.ratelimit import FixedWindowLimiter
from tests.emulators.tokens import (
    AccessToken,
    Clock,
    OAuthAccount,
    TokenRegistry,
    bearer_token,
    utc_now,
)

MAX_COUNT = 100
DEFAULT_COUNT = 20
WEBHOOK_EVENTS = frozenset(
    {
        "invitee.created",
        "invitee.canceled",
        "invitee_no_show.created",
        "invitee_no_show.deleted",
        "routing_form_submission.created",
        "event_type.created",
        "event_type.updated",
        "event_type.deleted",
    }
)
PAID_PLANS = frozenset({"standard", "teams", "enterprise"})

Deliver = Callable[[str, dict[str, str], bytes], Awaitable[int]]
"""Posts a delivery (url, headers, body); returns the HTTP status."""


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _error(status: int, title: str, message: str, **headers: str) -> JSONResponse:
    return JSONResponse(
        {"title": title, "message": message}, status_code=status, headers=headers or None
    )


def _invalid(parameter: str, message: str, headers: Mapping[str, str]) -> JSONResponse:
    body = {
        "title": "Invalid Argument",
        "message": "The supplied parameters are invalid.",
        "details": [{"parameter": parameter, "message": message}],
    }
    return JSONResponse(body, status_code=400, headers=dict(headers))


def _last_segment(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]


@dataclass
class CalendlyUser:
    uuid: str
    name: str
    email: str
    organization_uuid: str
    role: Literal["owner", "admin", "user"]


@dataclass
class CalendlyInvitee:
    uuid: str
    email: str
    name: str
    status: str
    created_at: datetime
    updated_at: datetime
    rescheduled: bool = False
    cancel_reason: str | None = None
    tracking: dict[str, str | None] = field(default_factory=dict)


@dataclass
class CalendlyEventType:
    uuid: str
    name: str
    slug: str
    duration: int
    """Minutes."""
    host_uuid: str
    active: bool = True


@dataclass
class CalendlyEvent:
    uuid: str
    name: str
    host_uuid: str
    start_time: datetime
    end_time: datetime
    status: str
    created_at: datetime
    updated_at: datetime
    invitees: dict[str, CalendlyInvitee] = field(default_factory=dict)
    cancel_reason: str | None = None


@dataclass
class CalendlySubscription:
    uuid: str
    callback_url: str
    events: list[str]
    scope: str
    organization_uuid: str
    user_uuid: str | None
    creator_uuid: str
    signing_key: str
    created_at: datetime
    updated_at: datetime
    state: str = "active"
    retry_started_at: datetime | None = None


@dataclass
class CalendlyOrganization:
    uuid: str
    name: str
    plan: str = "standard"
    users: dict[str, CalendlyUser] = field(default_factory=dict)
    events: dict[str, CalendlyEvent] = field(default_factory=dict)
    subscriptions: dict[str, CalendlySubscription] = field(default_factory=dict)
    event_types: dict[str, CalendlyEventType] = field(default_factory=dict)


@dataclass
class CalendlyCounters:
    requests: int = 0
    unauthorized: int = 0
    event_pages: int = 0
    invitee_pages: int = 0
    deliveries: int = 0


class CalendlyEmulator:
    """State and Starlette app of Calendly (any number of organizations)."""

    def __init__(self, registry: TokenRegistry | None = None, *, now: Clock = utc_now) -> None:
        self._now = now
        self.registry = registry or TokenRegistry(now)
        self.uri_base = "https://api.calendly.com"
        self.oauth = OAuthServer(
            CALENDLY_OAUTH, self.registry, now=now, token_fields=self._token_fields
        )
        self.organizations: dict[str, CalendlyOrganization] = {}
        self.users: dict[str, CalendlyUser] = {}
        self.paid_limit = FixedWindowLimiter(500, 60, now)
        self.free_limit = FixedWindowLimiter(50, 60, now)
        self.retry_after_on_429 = True
        """Calendly documents `X-RateLimit-Reset`, not `Retry-After`; False leaves it out."""
        self.deliver: Deliver | None = None
        self.delivered: list[tuple[str, dict[str, str], bytes, int]] = []
        self.counters = CalendlyCounters()
        self.faults = Faults()
        """Injected answers of API requests that passed auth and the rate limit."""
        self.app = Starlette(
            routes=[
                Route("/oauth/authorize", self.oauth.authorize, methods=["GET"]),
                Route("/oauth/decide", self.oauth.decide, methods=["GET"]),
                Route("/oauth/token", self.oauth.token, methods=["POST"]),
                Route("/users/me", self._me, methods=["GET"]),
                Route("/event_types", self._event_types, methods=["GET"]),
                Route("/event_types/{uuid}", self._event_type, methods=["GET"]),
                Route("/scheduled_events", self._events, methods=["GET"]),
                Route("/scheduled_events/{uuid}", self._event, methods=["GET"]),
                Route("/scheduled_events/{uuid}/invitees", self._invitees, methods=["GET"]),
                Route("/webhook_subscriptions", self._subscriptions, methods=["GET", "POST"]),
                Route(
                    "/webhook_subscriptions/{uuid}", self._subscription, methods=["GET", "DELETE"]
                ),
            ]
        )

    # ---- URIs ------------------------------------------------------------------

    def org_uri(self, org: CalendlyOrganization | str) -> str:
        key = org if isinstance(org, str) else org.uuid
        return f"{self.uri_base}/organizations/{key}"

    def user_uri(self, user: CalendlyUser | str) -> str:
        key = user if isinstance(user, str) else user.uuid
        return f"{self.uri_base}/users/{key}"

    def event_uri(self, event: CalendlyEvent) -> str:
        return f"{self.uri_base}/scheduled_events/{event.uuid}"

    def event_type_uri(self, event_type: CalendlyEventType) -> str:
        return f"{self.uri_base}/event_types/{event_type.uuid}"

    def _token_fields(self, account: OAuthAccount) -> Mapping[str, Any]:
        return {
            "owner": self.user_uri(account.user_id),
            "organization": self.org_uri(account.organization_id),
        }

    # ---- test controls ---------------------------------------------------------

    def add_organization(
        self, name: str = "Acme Scheduling", plan: str = "standard"
    ) -> CalendlyOrganization:
        org = CalendlyOrganization(uuid=uuid.uuid4().hex.upper()[:16], name=name, plan=plan)
        self.organizations[org.uuid] = org
        return org

    def add_user(
        self,
        org: CalendlyOrganization,
        name: str = "Owner",
        role: Literal["owner", "admin", "user"] = "owner",
    ) -> CalendlyUser:
        key = uuid.uuid4().hex.upper()[:16]
        user = CalendlyUser(key, name, f"{key.lower()}@example.com", org.uuid, role)
        org.users[user.uuid] = user
        self.users[user.uuid] = user
        return user

    def account(self, user: CalendlyUser) -> OAuthAccount:
        """The OAuth account of `user` (see `oauth.approve`)."""
        return self.oauth.add_account(OAuthAccount(user.uuid, user.organization_uuid, user.name))

    def add_personal_access_token(self, user: CalendlyUser) -> str:
        token = "eyJ" + secrets.token_urlsafe(40)
        self.registry.issue(
            "calendly", OAuthAccount(user.uuid, user.organization_uuid), lifetime=None, token=token
        )
        return token

    async def add_event(
        self,
        host: CalendlyUser,
        start: datetime,
        *,
        name: str = "30 Minute Meeting",
        duration: timedelta = timedelta(minutes=30),
        invitees: Iterable[tuple[str, str]] = (),
    ) -> CalendlyEvent:
        """A scheduled event with invitees (`(name, email)` each); one delivery per invitee."""
        moment = self._now()
        event = CalendlyEvent(
            uuid.uuid4().hex.upper(),
            name,
            host.uuid,
            start,
            start + duration,
            "active",
            moment,
            moment,
        )
        self.organizations[host.organization_uuid].events[event.uuid] = event
        for invitee_name, email in invitees:
            await self.add_invitee(event, invitee_name, email)
        return event

    def add_events(self, host: CalendlyUser, count: int, first: datetime) -> list[CalendlyEvent]:
        """`count` events an hour apart from `first`, one invitee each (no deliveries)."""
        org = self.organizations[host.organization_uuid]
        moment = self._now()
        events = []
        for n in range(count):
            start = first + timedelta(hours=n)
            event = CalendlyEvent(
                uuid.uuid4().hex.upper(),
                "Meeting",
                host.uuid,
                start,
                start + timedelta(minutes=30),
                "active",
                moment,
                moment,
            )
            invitee = CalendlyInvitee(
                uuid.uuid4().hex.upper(),
                f"i{n}@example.com",
                f"Invitee {n}",
                "active",
                moment,
                moment,
            )
            event.invitees[invitee.uuid] = invitee
            org.events[event.uuid] = event
            events.append(event)
        return events

    def add_event_type(
        self, host: CalendlyUser, name: str = "Consultation", duration: int = 30
    ) -> CalendlyEventType:
        slug = name.lower().replace(" ", "-")
        event_type = CalendlyEventType(uuid.uuid4().hex.upper(), name, slug, duration, host.uuid)
        self.organizations[host.organization_uuid].event_types[event_type.uuid] = event_type
        return event_type

    async def add_invitee(
        self,
        event: CalendlyEvent,
        name: str,
        email: str,
        *,
        tracking: Mapping[str, str | None] | None = None,
    ) -> CalendlyInvitee:
        """An invitee scheduled (through a link whose UTM parameters are `tracking`)."""
        moment = self._now()
        invitee = CalendlyInvitee(uuid.uuid4().hex.upper(), email, name, "active", moment, moment)
        invitee.tracking = dict(tracking or {})
        event.invitees[invitee.uuid] = invitee
        await self._notify(event, invitee, "invitee.created")
        return invitee

    async def cancel_invitee(
        self, event: CalendlyEvent, invitee_uuid: str, reason: str = "Canceled"
    ) -> CalendlyInvitee:
        invitee = event.invitees[invitee_uuid]
        moment = self._now()
        invitee.status, invitee.cancel_reason, invitee.updated_at = "canceled", reason, moment
        if all(other.status == "canceled" for other in event.invitees.values()):
            event.status, event.cancel_reason, event.updated_at = "canceled", reason, moment
        await self._notify(event, invitee, "invitee.canceled")
        return invitee

    async def cancel_event(self, event: CalendlyEvent, reason: str = "Canceled") -> CalendlyEvent:
        for invitee in list(event.invitees.values()):
            if invitee.status == "active":
                await self.cancel_invitee(event, invitee.uuid, reason)
        event.status, event.cancel_reason, event.updated_at = "canceled", reason, self._now()
        return event

    def disable_subscription(self, subscription: CalendlySubscription) -> None:
        """As Calendly does after 24 h of failed deliveries."""
        subscription.state = "disabled"
        subscription.retry_started_at = self._now() - timedelta(hours=24)
        subscription.updated_at = self._now()

    def signed_delivery(
        self, subscription: CalendlySubscription, event: str, payload: Mapping[str, Any]
    ) -> tuple[dict[str, str], bytes]:
        """The headers and body Calendly posts for `payload` to `subscription`."""
        body = json.dumps(
            {
                "created_at": _iso(self._now()),
                "created_by": self.user_uri(subscription.creator_uuid),
                "event": event,
                "payload": payload,
            }
        ).encode()
        stamp = int(self._now().timestamp())
        signed = f"{stamp}.".encode() + body
        digest = hmac.new(subscription.signing_key.encode(), signed, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "Calendly-Webhook-Signature": f"t={stamp},v1={digest}",
        }
        return headers, body

    async def _notify(self, event: CalendlyEvent, invitee: CalendlyInvitee, name: str) -> None:
        if self.deliver is None:
            return
        host = self.users[event.host_uuid]
        org = self.organizations[host.organization_uuid]
        payload = {**self._invitee(event, invitee), "scheduled_event": self._event_resource(event)}
        for subscription in list(org.subscriptions.values()):
            if subscription.state != "active" or name not in subscription.events:
                continue
            if subscription.scope == "user" and subscription.user_uuid != host.uuid:
                continue
            headers, body = self.signed_delivery(subscription, name, payload)
            status = await self.deliver(subscription.callback_url, headers, body)
            self.counters.deliveries += 1
            self.delivered.append((subscription.callback_url, headers, body, status))
            if status == 410:
                del org.subscriptions[subscription.uuid]

    # ---- resources -------------------------------------------------------------

    def _user(self, user: CalendlyUser) -> dict[str, Any]:
        return {
            "uri": self.user_uri(user),
            "name": user.name,
            "slug": user.name.lower().replace(" ", "-"),
            "email": user.email,
            "scheduling_url": f"https://calendly.com/{user.uuid.lower()}",
            "timezone": "America/New_York",
            "avatar_url": None,
            "locale": "en",
            "resource_type": "User",
            "created_at": "2020-01-01T00:00:00.000000Z",
            "updated_at": "2020-01-01T00:00:00.000000Z",
            "current_organization": self.org_uri(user.organization_uuid),
        }

    def _event_resource(self, event: CalendlyEvent) -> dict[str, Any]:
        host = self.users[event.host_uuid]
        active = sum(1 for invitee in event.invitees.values() if invitee.status == "active")
        resource: dict[str, Any] = {
            "uri": self.event_uri(event),
            "name": event.name,
            "meeting_notes_plain": None,
            "status": event.status,
            "start_time": _iso(event.start_time),
            "end_time": _iso(event.end_time),
            "event_type": f"{self.uri_base}/event_types/EMULATED",
            "location": {"type": "physical", "location": "Office"},
            "invitees_counter": {"total": len(event.invitees), "active": active, "limit": 1},
            "created_at": _iso(event.created_at),
            "updated_at": _iso(event.updated_at),
            "event_memberships": [
                {"user": self.user_uri(host), "user_email": host.email, "user_name": host.name}
            ],
            "event_guests": [],
        }
        if event.status == "canceled":
            resource["cancellation"] = {
                "canceled_by": host.name,
                "reason": event.cancel_reason,
                "canceler_type": "host",
                "created_at": _iso(event.updated_at),
            }
        return resource

    def _invitee(self, event: CalendlyEvent, invitee: CalendlyInvitee) -> dict[str, Any]:
        first, _, last = invitee.name.partition(" ")
        uri = f"{self.event_uri(event)}/invitees/{invitee.uuid}"
        resource: dict[str, Any] = {
            "uri": uri,
            "email": invitee.email,
            "name": invitee.name,
            "first_name": first,
            "last_name": last or None,
            "status": invitee.status,
            "timezone": "America/New_York",
            "event": self.event_uri(event),
            "created_at": _iso(invitee.created_at),
            "updated_at": _iso(invitee.updated_at),
            "rescheduled": invitee.rescheduled,
            "old_invitee": None,
            "new_invitee": None,
            "questions_and_answers": [],
            "text_reminder_number": None,
            "tracking": {
                key: invitee.tracking.get(key)
                for key in (
                    "utm_campaign",
                    "utm_source",
                    "utm_medium",
                    "utm_content",
                    "utm_term",
                    "salesforce_uuid",
                )
            },
            "no_show": None,
            "reconfirmation": None,
            "payment": None,
            "cancel_url": f"https://calendly.com/cancellations/{invitee.uuid}",
            "reschedule_url": f"https://calendly.com/reschedulings/{invitee.uuid}",
        }
        if invitee.status == "canceled":
            resource["cancellation"] = {
                "canceled_by": invitee.name,
                "reason": invitee.cancel_reason,
                "canceler_type": "invitee",
                "created_at": _iso(invitee.updated_at),
            }
        return resource

    def _event_type_resource(self, event_type: CalendlyEventType) -> dict[str, Any]:
        host = self.users[event_type.host_uuid]
        return {
            "uri": self.event_type_uri(event_type),
            "name": event_type.name,
            "active": event_type.active,
            "slug": event_type.slug,
            "scheduling_url": (f"https://calendly.com/{host.uuid.lower()}/{event_type.slug}"),
            "duration": event_type.duration,
            "kind": "solo",
            "type": "StandardEventType",
            "color": "#0069ff",
            "profile": {"type": "User", "name": host.name, "owner": self.user_uri(host)},
            "created_at": "2020-01-01T00:00:00.000000Z",
            "updated_at": "2020-01-01T00:00:00.000000Z",
        }

    def _subscription_resource(self, sub: CalendlySubscription) -> dict[str, Any]:
        return {
            "uri": f"{self.uri_base}/webhook_subscriptions/{sub.uuid}",
            "callback_url": sub.callback_url,
            "created_at": _iso(sub.created_at),
            "updated_at": _iso(sub.updated_at),
            "retry_started_at": _iso(sub.retry_started_at) if sub.retry_started_at else None,
            "state": sub.state,
            "events": list(sub.events),
            "scope": sub.scope,
            "organization": self.org_uri(sub.organization_uuid),
            "user": self.user_uri(sub.user_uuid) if sub.user_uuid else None,
            "group": None,
            "creator": self.user_uri(sub.creator_uuid),
        }

    # ---- request plumbing ------------------------------------------------------

    def _guard(
        self, request: Request, scope: str
    ) -> tuple[CalendlyUser, AccessToken, dict[str, str]] | Response:
        self.counters.requests += 1
        token = self.registry.lookup("calendly", bearer_token(request) or "")
        user = self.users.get(token.account.user_id) if token is not None else None
        if token is None or user is None:
            self.counters.unauthorized += 1
            return _error(401, "Unauthenticated", "The access token is invalid")
        org = self.organizations[user.organization_uuid]
        paid = org.plan in PAID_PLANS
        limiter = self.paid_limit if paid else self.free_limit
        decision = limiter.hit(user.uuid)
        headers = {
            "X-RateLimit-Limit": str(decision.limit),
            "X-RateLimit-Remaining": str(decision.remaining),
            "X-RateLimit-Reset": decision.retry_after,
        }
        if not decision.allowed:
            if self.retry_after_on_429:
                headers["Retry-After"] = decision.retry_after
            return _error(429, "Too Many Requests", "Rate limit exceeded", **headers)
        if not token.allows({scope, scope.replace(":read", ":write")}):
            return _error(
                403, "Permission Denied", f"This token lacks the {scope} scope", **headers
            )
        return self.faults.next() or (user, token, headers)

    @staticmethod
    def _count(request: Request, headers: Mapping[str, str]) -> int | Response:
        raw = request.query_params.get("count", str(DEFAULT_COUNT))
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_COUNT:
            return _invalid("count", f"must be an integer from 1 to {MAX_COUNT}", headers)
        return int(raw)

    @staticmethod
    def _page(
        request: Request,
        items: list[Any],
        key: Callable[[Any], tuple[str, str]],
        count: int,
        descending: bool,
    ) -> tuple[list[Any], dict[str, Any]] | str:
        """Keyset pages: the token is the last item's sort key, so inserts skip nothing."""
        items.sort(key=key, reverse=descending)
        token = request.query_params.get("page_token")
        if token:
            try:
                cursor = tuple(json.loads(base64.urlsafe_b64decode(token.encode())))
            except (ValueError, binascii.Error):
                return "invalid page_token"
            items = [
                item for item in items if (key(item) < cursor if descending else key(item) > cursor)
            ]
        page = items[:count]
        pagination: dict[str, Any] = {
            "count": len(page),
            "next_page": None,
            "next_page_token": None,
            "previous_page": None,
            "previous_page_token": None,
        }
        if len(items) > count:
            next_token = base64.urlsafe_b64encode(json.dumps(key(page[-1])).encode()).decode()
            pagination["next_page_token"] = next_token
            pagination["next_page"] = str(request.url.include_query_params(page_token=next_token))
        return page, pagination

    # ---- endpoints -------------------------------------------------------------

    async def _me(self, request: Request) -> Response:
        guarded = self._guard(request, "users:read")
        if isinstance(guarded, Response):
            return guarded
        user, _, headers = guarded
        return JSONResponse({"resource": self._user(user)}, headers=headers)

    async def _events(self, request: Request) -> Response:
        guarded = self._guard(request, "scheduled_events:read")
        if isinstance(guarded, Response):
            return guarded
        user, _, headers = guarded
        params = request.query_params
        count = self._count(request, headers)
        if isinstance(count, Response):
            return count
        org = self.organizations[user.organization_uuid]
        events = list(org.events.values())
        if "organization" in params:
            if _last_segment(params["organization"]) != org.uuid or user.role == "user":
                return _error(403, "Permission Denied", "You do not have permission", **headers)
        elif "user" in params:
            host = _last_segment(params["user"])
            if host != user.uuid and (user.role == "user" or host not in org.users):
                return _error(403, "Permission Denied", "You do not have permission", **headers)
            events = [event for event in events if event.host_uuid == host]
        else:
            return _invalid("organization", "organization or user is required", headers)
        try:
            if "min_start_time" in params:
                low = _parse_time(params["min_start_time"])
                events = [event for event in events if event.start_time >= low]
            if "max_start_time" in params:
                high = _parse_time(params["max_start_time"])
                events = [event for event in events if event.start_time < high]
        except ValueError:
            return _invalid("min_start_time", "must be an ISO 8601 time", headers)
        if params.get("status") in ("active", "canceled"):
            events = [event for event in events if event.status == params["status"]]
        if "invitee_email" in params:
            email = params["invitee_email"]
            events = [e for e in events if any(i.email == email for i in e.invitees.values())]
        sort = params.get("sort", "start_time:asc")
        if sort not in ("start_time:asc", "start_time:desc"):
            return _invalid("sort", "must be start_time:asc or start_time:desc", headers)
        paged = self._page(
            request,
            events,
            lambda event: (_iso(event.start_time), event.uuid),
            count,
            sort.endswith("desc"),
        )
        if isinstance(paged, str):
            return _invalid("page_token", paged, headers)
        self.counters.event_pages += 1
        page, pagination = paged
        collection = [self._event_resource(event) for event in page]
        return JSONResponse({"collection": collection, "pagination": pagination}, headers=headers)

    async def _event_types(self, request: Request) -> Response:
        guarded = self._guard(request, "event_types:read")
        if isinstance(guarded, Response):
            return guarded
        user, _, headers = guarded
        count = self._count(request, headers)
        if isinstance(count, Response):
            return count
        params = request.query_params
        org = self.organizations[user.organization_uuid]
        types = list(org.event_types.values())
        if "organization" in params:
            if _last_segment(params["organization"]) != org.uuid:
                return _error(403, "Permission Denied", "You do not have permission", **headers)
        elif "user" in params:
            host = _last_segment(params["user"])
            types = [event_type for event_type in types if event_type.host_uuid == host]
        else:
            return _invalid("organization", "organization or user is required", headers)
        paged = self._page(
            request, types, lambda event_type: (event_type.name, event_type.uuid), count, False
        )
        if isinstance(paged, str):
            return _invalid("page_token", paged, headers)
        page, pagination = paged
        collection = [self._event_type_resource(event_type) for event_type in page]
        return JSONResponse({"collection": collection, "pagination": pagination}, headers=headers)

    async def _event_type(self, request: Request) -> Response:
        guarded = self._guard(request, "event_types:read")
        if isinstance(guarded, Response):
            return guarded
        user, _, headers = guarded
        found = self.organizations[user.organization_uuid].event_types.get(
            request.path_params["uuid"]
        )
        if found is None:
            return _error(
                404,
                "Resource Not Found",
                "The server could not find the requested resource.",
                **headers,
            )
        return JSONResponse({"resource": self._event_type_resource(found)}, headers=headers)

    def _find_event(self, user: CalendlyUser, key: str) -> CalendlyEvent | None:
        return self.organizations[user.organization_uuid].events.get(key)

    async def _event(self, request: Request) -> Response:
        guarded = self._guard(request, "scheduled_events:read")
        if isinstance(guarded, Response):
            return guarded
        user, _, headers = guarded
        event = self._find_event(user, request.path_params["uuid"])
        if event is None:
            return _error(
                404,
                "Resource Not Found",
                "The server could not find the requested resource.",
                **headers,
            )
        return JSONResponse({"resource": self._event_resource(event)}, headers=headers)

    async def _invitees(self, request: Request) -> Response:
        guarded = self._guard(request, "scheduled_events:read")
        if isinstance(guarded, Response):
            return guarded
        user, _, headers = guarded
        event = self._find_event(user, request.path_params["uuid"])
        if event is None:
            return _error(
                404,
                "Resource Not Found",
                "The server could not find the requested resource.",
                **headers,
            )
        count = self._count(request, headers)
        if isinstance(count, Response):
            return count
        params = request.query_params
        invitees = list(event.invitees.values())
        if params.get("status") in ("active", "canceled"):
            invitees = [invitee for invitee in invitees if invitee.status == params["status"]]
        if "email" in params:
            invitees = [invitee for invitee in invitees if invitee.email == params["email"]]
        sort = params.get("sort", "created_at:asc")
        paged = self._page(
            request,
            invitees,
            lambda invitee: (_iso(invitee.created_at), invitee.uuid),
            count,
            sort.endswith("desc"),
        )
        if isinstance(paged, str):
            return _invalid("page_token", paged, headers)
        self.counters.invitee_pages += 1
        page, pagination = paged
        collection = [self._invitee(event, invitee) for invitee in page]
        return JSONResponse({"collection": collection, "pagination": pagination}, headers=headers)

    async def _subscriptions(self, request: Request) -> Response:
        scope = "webhooks:read" if request.method == "GET" else "webhooks:write"
        guarded = self._guard(request, scope)
        if isinstance(guarded, Response):
            return guarded
        user, _, headers = guarded
        org = self.organizations[user.organization_uuid]
        if request.method == "GET":
            return self._list_subscriptions(request, user, org, headers)
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _invalid("body", "must be a JSON object", headers)
        problem = self._subscription_problem(body, user, org)
        if problem is not None:
            return _invalid(problem[0], problem[1], headers)
        if org.plan not in PAID_PLANS:
            return _error(
                403,
                "Permission Denied",
                "Please upgrade your Calendly account to Standard",
                **headers,
            )
        if body["scope"] == "organization" and user.role == "user":
            return _error(403, "Permission Denied", "You do not have permission", **headers)
        if any(sub.callback_url == body["url"] for sub in org.subscriptions.values()):
            return _error(409, "Already Exists", "Hook with this url already exists", **headers)
        moment = self._now()
        subscription = CalendlySubscription(
            uuid=str(uuid.uuid4()),
            callback_url=body["url"],
            events=list(body["events"]),
            scope=body["scope"],
            organization_uuid=org.uuid,
            user_uuid=_last_segment(body["user"]) if body.get("user") else None,
            creator_uuid=user.uuid,
            signing_key=body.get("signing_key") or secrets.token_urlsafe(32),
            created_at=moment,
            updated_at=moment,
        )
        org.subscriptions[subscription.uuid] = subscription
        return JSONResponse(
            {"resource": self._subscription_resource(subscription)},
            status_code=201,
            headers=headers,
        )

    def _subscription_problem(
        self, body: Mapping[str, Any], user: CalendlyUser, org: CalendlyOrganization
    ) -> tuple[str, str] | None:
        url = body.get("url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            return "url", "must be an http(s) URL"
        events = body.get("events")
        if not isinstance(events, list) or not events or not set(events) <= WEBHOOK_EVENTS:
            return "events", "must be a non-empty list of webhook events"
        if body.get("scope") not in ("user", "organization"):
            return "scope", "must be user or organization"
        if _last_segment(str(body.get("organization", ""))) != org.uuid:
            return "organization", "must be the organization of the token's user"
        if body["scope"] == "user" and _last_segment(str(body.get("user", ""))) != user.uuid:
            return "user", "is required for user scope and must be the token's user"
        key = body.get("signing_key")
        if key is not None and not isinstance(key, str):
            return "signing_key", "must be a string"
        return None

    def _list_subscriptions(
        self,
        request: Request,
        user: CalendlyUser,
        org: CalendlyOrganization,
        headers: Mapping[str, str],
    ) -> Response:
        params = request.query_params
        if _last_segment(params.get("organization", "")) != org.uuid:
            return _invalid("organization", "is required", headers)
        if params.get("scope") not in ("user", "organization"):
            return _invalid("scope", "is required: user or organization", headers)
        count = self._count(request, headers)
        if isinstance(count, Response):
            return count
        subs = [s for s in org.subscriptions.values() if s.scope == params["scope"]]
        if params["scope"] == "user":
            wanted = _last_segment(params.get("user", user.uuid))
            subs = [s for s in subs if s.user_uuid == wanted]
        paged = self._page(
            request, subs, lambda sub: (_iso(sub.created_at), sub.uuid), count, False
        )
        if isinstance(paged, str):
            return _invalid("page_token", paged, headers)
        page, pagination = paged
        collection = [self._subscription_resource(sub) for sub in page]
        return JSONResponse(
            {"collection": collection, "pagination": pagination}, headers=dict(headers)
        )

    async def _subscription(self, request: Request) -> Response:
        scope = "webhooks:read" if request.method == "GET" else "webhooks:write"
        guarded = self._guard(request, scope)
        if isinstance(guarded, Response):
            return guarded
        user, _, headers = guarded
        org = self.organizations[user.organization_uuid]
        sub = org.subscriptions.get(request.path_params["uuid"])
        if sub is None:
            return _error(
                404,
                "Resource Not Found",
                "The server could not find the requested resource.",
                **headers,
            )
        if request.method == "DELETE":
            del org.subscriptions[sub.uuid]
            return Response(status_code=204, headers=headers)
        return JSONResponse({"resource": self._subscription_resource(sub)}, headers=headers)
