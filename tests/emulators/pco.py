"""A Planning Center People and Webhooks API emulator, with its OAuth server.

It follows /work/shared/provider-apis.md §1:

- OAuth (`/oauth/authorize`, `/oauth/token`, `/oauth/revoke`): form-body client
  credentials, 2 h access tokens, rotating refresh tokens, `created_at` in the answer.
- Auth on the API: `Bearer` (an OAuth token; the `people` scope for People, `webhooks`
  for Webhooks) or HTTP Basic `app_id:secret` (a personal access token, every scope).
- `GET /people/v2` (the organization), `GET /people/v2/people` (JSON:API: `per_page`
  1 to 100, `offset`, `include=emails,phone_numbers`, `where[field]` and
  `where[field][gt|gte|lt|lte]` on `id`, `created_at`, `updated_at`, `order`,
  `meta.total_count`, `meta.next.offset`, `links.next`), `GET /people/v2/person_mergers`.
- 100 requests per 20 s per user (75 for offsets above 30,000) with the
  `X-PCO-API-Request-Rate-*` headers, 429 with `Retry-After` and PCO's error body.
- A `Date` header on every API answer, from the emulator's clock (a test skews it).
- `/webhooks/v2/webhook_subscriptions`: create (each with its own
  `authenticity_secret`), list, get, PATCH `active`, delete, `rotate_secret`.

Tests change the provider's data with `add_person`, `update_person`, `delete_person`,
`merge_people`; with `deliver` set, each change is posted to the matching active
subscriptions, signed as PCO signs (`X-PCO-Webhooks-Authenticity`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import itertools
import json
import re
import secrets
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.emulators.faults import Faults
from tests.emulators.oauth import OAuthServer
from tests.emulators.oauth_providers import PCO_OAUTH
from tests.emulators.pco_records import (
    PcoEmail,
    PcoMerger,
    PcoOrganization,
    PcoPerson,
    PcoPhone,
    PcoSubscription,
    iso,
)
from tests.emulators.ratelimit import FixedWindowLimiter
from tests.emulators.tokens import Clock, OAuthAccount, TokenRegistry, utc_now

MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 25
DEEP_OFFSET = 30_000
EVENT_NAME = re.compile(r"^[a-z_]+\.v2\.events\.[a-z_]+\.(created|updated|destroyed)$")
PEOPLE_EVENTS = (
    *(
        f"people.v2.events.{resource}.{action}"
        for resource in ("person", "email", "phone_number")
        for action in ("created", "updated", "destroyed")
    ),
    "people.v2.events.person_merger.created",
)

Deliver = Callable[[str, dict[str, str], bytes], Awaitable[int]]
"""Posts a delivery (url, headers, body); returns the HTTP status."""


def _errors(status: int, title: str, detail: str, **headers: str) -> JSONResponse:
    body = {
        "errors": [{"status": str(status), "code": str(status), "title": title, "detail": detail}]
    }
    return JSONResponse(body, status_code=status, headers=headers or None)


@dataclass
class PcoCounters:
    requests: int = 0
    people_pages: int = 0
    pages_by_query: Counter[str] = field(default_factory=Counter)
    """People pages served (200), by query string: a page read again counts twice."""
    unauthorized: int = 0
    deliveries: int = 0


_WHERE = re.compile(r"^where\[(\w+)\](?:\[(gt|gte|lt|lte)\])?$")
_ORDERABLE = ("created_at", "updated_at", "first_name", "last_name", "id")


class PcoEmulator:
    """State and Starlette app of Planning Center (any number of organizations)."""

    def __init__(self, registry: TokenRegistry | None = None, *, now: Clock = utc_now) -> None:
        self._now = now
        self.registry = registry or TokenRegistry(now)
        self.oauth = OAuthServer(PCO_OAUTH, self.registry, now=now)
        self.organizations: dict[str, PcoOrganization] = {}
        self.personal_tokens: dict[str, tuple[str, OAuthAccount]] = {}
        self.rate_limit = FixedWindowLimiter(100, 20, now)
        self.deep_offset_limit = FixedWindowLimiter(75, 20, now)
        self.require_webhooks_scope = True
        """OAuth tokens need the `webhooks` scope for subscriptions (the Webhooks OpenAPI)."""
        self.reject_duplicate_subscriptions = False
        """True: a second subscription with the same name and url answers 422."""
        self.deliver: Deliver | None = None
        self.delivered: list[tuple[str, dict[str, str], bytes, int]] = []
        self.counters = PcoCounters()
        self.faults = Faults()
        """Injected answers of API requests that passed auth and the rate limit."""
        self._ids = itertools.count(1001)
        self.app = Starlette(
            routes=[
                Route("/oauth/authorize", self.oauth.authorize, methods=["GET"]),
                Route("/oauth/decide", self.oauth.decide, methods=["GET"]),
                Route("/oauth/token", self.oauth.token, methods=["POST"]),
                Route("/oauth/revoke", self.oauth.revoke, methods=["POST"]),
                Route("/people/v2", self._organization, methods=["GET"]),
                Route("/people/v2/people", self._people, methods=["GET"]),
                Route("/people/v2/person_mergers", self._mergers, methods=["GET"]),
                Route(
                    "/webhooks/v2/webhook_subscriptions",
                    self._subscriptions,
                    methods=["GET", "POST"],
                ),
                Route(
                    "/webhooks/v2/webhook_subscriptions/{id}",
                    self._subscription,
                    methods=["GET", "PATCH", "DELETE"],
                ),
                Route(
                    "/webhooks/v2/webhook_subscriptions/{id}/rotate_secret",
                    self._rotate_secret,
                    methods=["POST"],
                ),
            ]
        )

    # ---- test controls ---------------------------------------------------------

    def add_organization(self, name: str = "First Church") -> PcoOrganization:
        org = PcoOrganization(id=str(next(self._ids)), name=name)
        self.organizations[org.id] = org
        return org

    def account(self, org: PcoOrganization, user_id: str | None = None) -> OAuthAccount:
        """A user of `org` who can approve an OAuth request (see `oauth.approve`)."""
        account = OAuthAccount(user_id or f"u{next(self._ids)}", org.id, f"Admin of {org.name}")
        return self.oauth.add_account(account)

    def add_personal_access_token(
        self, org: PcoOrganization, user_id: str | None = None
    ) -> tuple[str, str]:
        """A personal access token (`app_id`, `secret`) of a user of `org`."""
        app_id = secrets.token_hex(16)
        secret = secrets.token_hex(32)
        self.personal_tokens[app_id] = (secret, self.account(org, user_id))
        return app_id, secret

    def _stamp(self) -> datetime:
        return self._now().astimezone(UTC).replace(microsecond=0)

    async def add_person(
        self,
        org: PcoOrganization,
        first_name: str,
        last_name: str,
        *,
        emails: Iterable[str] = (),
        phones: Iterable[str] = (),
        status: str = "active",
    ) -> PcoPerson:
        moment = self._stamp()
        person = PcoPerson(str(next(self._ids)), first_name, last_name, status, moment, moment)
        self._set_contacts(person, emails, phones, moment)
        org.people[person.id] = person
        await self._notify(org, "person.created", person)
        return person

    def add_people(self, org: PcoOrganization, count: int) -> list[PcoPerson]:
        """`count` people, each with an email and a phone, at once (no deliveries)."""
        moment = self._stamp()
        people = []
        for n in range(count):
            person = PcoPerson(
                str(next(self._ids)), f"First{n}", f"Last{n}", "active", moment, moment
            )
            self._set_contacts(
                person, [f"person{person.id}@example.com"], [f"+1555{n:07d}"], moment
            )
            org.people[person.id] = person
            people.append(person)
        return people

    async def update_person(
        self,
        org: PcoOrganization,
        person_id: str,
        *,
        first_name: str | None = None,
        last_name: str | None = None,
        status: str | None = None,
        emails: Iterable[str] | None = None,
        phones: Iterable[str] | None = None,
    ) -> PcoPerson:
        person = org.people[person_id]
        moment = self._stamp()
        person.first_name = first_name if first_name is not None else person.first_name
        person.last_name = last_name if last_name is not None else person.last_name
        person.status = status if status is not None else person.status
        if emails is not None or phones is not None:
            self._set_contacts(
                person,
                emails if emails is not None else [e.address for e in person.emails],
                phones if phones is not None else [p.number for p in person.phone_numbers],
                moment,
            )
        person.updated_at = moment
        await self._notify(org, "person.updated", person)
        return person

    async def delete_person(self, org: PcoOrganization, person_id: str) -> PcoPerson:
        person = org.people.pop(person_id)
        await self._notify(org, "person.destroyed", person)
        return person

    async def merge_people(self, org: PcoOrganization, keep_id: str, remove_id: str) -> PcoMerger:
        """PCO's merge: `remove_id` disappears (no `person.destroyed` is sent)."""
        org.people.pop(remove_id)
        merger = PcoMerger(str(next(self._ids)), keep_id, remove_id, self._stamp())
        org.mergers.append(merger)
        resource = {
            "type": "PersonMerger",
            "id": merger.id,
            "attributes": {
                "person_to_keep_id": keep_id,
                "person_to_remove_id": remove_id,
                "created_at": iso(merger.created_at),
            },
        }
        await self._send(org, "people.v2.events.person_merger.created", {"data": resource})
        return merger

    def _set_contacts(
        self, person: PcoPerson, emails: Iterable[str], phones: Iterable[str], moment: datetime
    ) -> None:
        person.emails = [
            PcoEmail(str(next(self._ids)), address, "Home", n == 0, moment, moment)
            for n, address in enumerate(emails)
        ]
        person.phone_numbers = [
            PcoPhone(str(next(self._ids)), number, "Mobile", n == 0, moment, moment)
            for n, number in enumerate(phones)
        ]

    def signed_delivery(
        self, subscription: PcoSubscription, payload: dict[str, Any], *, attempt: int = 1
    ) -> tuple[dict[str, str], bytes]:
        """The headers and body PCO posts for `payload` to `subscription`."""
        org_id = next(
            org.id for org in self.organizations.values() if subscription.id in org.subscriptions
        )
        event_id = str(uuid.uuid4())
        envelope = {
            "data": [
                {
                    "id": event_id,
                    "type": "EventDelivery",
                    "attributes": {
                        "name": subscription.name,
                        "attempt": attempt,
                        "payload": json.dumps(payload),
                    },
                    "relationships": {
                        "organization": {"data": {"type": "Organization", "id": org_id}}
                    },
                }
            ]
        }
        body = json.dumps(envelope).encode()
        digest = hmac.new(subscription.authenticity_secret.encode(), body, hashlib.sha256)
        headers = {
            "Content-Type": "application/json",
            "X-PCO-Webhooks-Authenticity": digest.hexdigest(),
            "X-PCO-Webhooks-Event-ID": event_id,
            "X-PCO-Webhooks-Name": subscription.name,
            "X-PCO-Webhooks-Event-Time": iso(self._now()),
        }
        return headers, body

    async def _notify(self, org: PcoOrganization, event: str, person: PcoPerson) -> None:
        include = ("emails", "phone_numbers")
        payload = {"data": person.resource(include), "included": person.included(include)}
        await self._send(org, f"people.v2.events.{event}", payload)

    async def _send(self, org: PcoOrganization, name: str, payload: dict[str, Any]) -> None:
        if self.deliver is None:
            return
        for subscription in list(org.subscriptions.values()):
            if subscription.active and subscription.name == name:
                headers, body = self.signed_delivery(subscription, payload)
                status = await self.deliver(subscription.url, headers, body)
                self.counters.deliveries += 1
                self.delivered.append((subscription.url, headers, body, status))
                if status == 410:
                    subscription.active = False

    # ---- request plumbing ------------------------------------------------------

    def _caller(
        self, request: Request, scope: str
    ) -> tuple[PcoOrganization, OAuthAccount] | Response:
        """The organization and user a request acts for, after auth and the rate limit."""
        self.counters.requests += 1
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        account: OAuthAccount | None = None
        if scheme.lower() == "bearer":
            token = self.registry.lookup("pco", value.strip())
            if token is not None:
                needs_scope = scope != "webhooks" or self.require_webhooks_scope
                if needs_scope and not token.allows(scope):
                    return _errors(403, "Forbidden", f"This token lacks the {scope} scope.")
                account = token.account
        elif scheme.lower() == "basic":
            account = self._personal_account(value.strip())
        if account is None or account.organization_id not in self.organizations:
            self.counters.unauthorized += 1
            return _errors(401, "Unauthorized", "The access token is missing, expired or revoked.")
        return self.organizations[account.organization_id], account

    def _personal_account(self, credentials: str) -> OAuthAccount | None:
        try:
            app_id, _, secret = base64.b64decode(credentials).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        known = self.personal_tokens.get(app_id)
        if known is None or not secrets.compare_digest(known[0], secret):
            return None
        return known[1]

    def _limit(
        self, account: OAuthAccount, *, deep: bool
    ) -> tuple[Response | None, dict[str, str]]:
        limiter = self.deep_offset_limit if deep else self.rate_limit
        decision = limiter.hit(account.user_id)
        headers = {
            "Date": format_datetime(self._now().astimezone(UTC), usegmt=True),
            "X-PCO-API-Request-Rate-Limit": str(decision.limit),
            "X-PCO-API-Request-Rate-Period": str(int(limiter.period)),
            "X-PCO-API-Request-Rate-Count": str(decision.count),
        }
        if decision.allowed:
            return None, headers
        detail = (
            f"Rate limit exceeded: {decision.count} of {decision.limit} requests per "
            f"{int(limiter.period)} seconds"
        )
        return _errors(
            429, "Too Many Requests", detail, **headers, **{"Retry-After": decision.retry_after}
        ), headers

    def _guard(
        self, request: Request, scope: str, *, deep: bool = False
    ) -> tuple[PcoOrganization, dict[str, str]] | Response:
        caller = self._caller(request, scope)
        if isinstance(caller, Response):
            return caller
        refused, headers = self._limit(caller[1], deep=deep)
        return refused or self.faults.next() or (caller[0], headers)

    # ---- People ----------------------------------------------------------------

    async def _organization(self, request: Request) -> Response:
        guarded = self._guard(request, "people")
        if isinstance(guarded, Response):
            return guarded
        org, headers = guarded
        return JSONResponse({"data": org.resource(), "included": [], "meta": {}}, headers=headers)

    async def _people(self, request: Request) -> Response:
        params = request.query_params
        try:
            per_page = min(int(params.get("per_page", DEFAULT_PER_PAGE)), MAX_PER_PAGE)
            offset = int(params.get("offset", "0"))
        except ValueError:
            return _errors(400, "Bad Request", "per_page and offset must be integers.")
        if per_page < 1 or offset < 0:
            return _errors(400, "Bad Request", "per_page must be 1 to 100 and offset 0 or more.")
        guarded = self._guard(request, "people", deep=offset > DEEP_OFFSET)
        if isinstance(guarded, Response):
            return guarded
        org, headers = guarded
        self.counters.people_pages += 1
        self.counters.pages_by_query[request.url.query] += 1
        selected = self._select(list(org.people.values()), params)
        if isinstance(selected, Response):
            return selected
        include = [name for name in params.get("include", "").split(",") if name]
        page = selected[offset : offset + per_page]
        meta: dict[str, Any] = {
            "total_count": len(selected),
            "count": len(page),
            "can_order_by": list(_ORDERABLE),
            "can_query_by": ["id", "created_at", "updated_at", "first_name", "last_name"],
            "can_include": ["emails", "phone_numbers"],
            "parent": {"id": org.id, "type": "Organization"},
        }
        links = {"self": str(request.url)}
        if offset + per_page < len(selected):
            meta["next"] = {"offset": offset + per_page}
            links["next"] = str(request.url.include_query_params(offset=offset + per_page))
        if offset > 0:
            meta["prev"] = {"offset": max(0, offset - per_page)}
        body = {
            "links": links,
            "data": [person.resource(include) for person in page],
            "included": [item for person in page for item in person.included(include)],
            "meta": meta,
        }
        return JSONResponse(body, headers=headers)

    def _select(self, people: list[PcoPerson], params: Any) -> list[PcoPerson] | Response:
        for name, value in params.multi_items():
            if not name.startswith("where["):
                continue
            match = _WHERE.match(name)
            if match is None or match.group(1) not in ("id", "created_at", "updated_at"):
                return _errors(400, "Bad Request", f"Unsupported query {name!r}.")
            try:
                bound = _comparable(match.group(1), value)
            except ValueError:
                return _errors(400, "Bad Request", f"Invalid value for {name!r}.")
            people = [
                person
                for person in people
                if _compare(_comparable_of(person, match.group(1)), match.group(2), bound)
            ]
        order = params.get("order", "id")
        key = order.removeprefix("-")
        if key not in _ORDERABLE:
            return _errors(400, "Bad Request", f"Cannot order by {order!r}.")
        people.sort(key=lambda person: int(person.id))
        people.sort(key=lambda person: _comparable_of(person, key), reverse=order.startswith("-"))
        return people

    async def _mergers(self, request: Request) -> Response:
        guarded = self._guard(request, "people")
        if isinstance(guarded, Response):
            return guarded
        org, headers = guarded
        params = request.query_params
        mergers = list(org.mergers)
        since = params.get("where[created_at][gte]")
        if since is not None:
            bound = _parse_time(since)
            mergers = [merger for merger in mergers if merger.created_at >= bound]
        per_page = min(int(params.get("per_page", DEFAULT_PER_PAGE)), MAX_PER_PAGE)
        offset = int(params.get("offset", "0"))
        page = mergers[offset : offset + per_page]
        meta: dict[str, Any] = {"total_count": len(mergers), "count": len(page)}
        if offset + per_page < len(mergers):
            meta["next"] = {"offset": offset + per_page}
        data = [
            {
                "type": "PersonMerger",
                "id": merger.id,
                "attributes": {
                    "person_to_keep_id": merger.person_to_keep_id,
                    "person_to_remove_id": merger.person_to_remove_id,
                    "created_at": iso(merger.created_at),
                },
            }
            for merger in page
        ]
        return JSONResponse({"data": data, "included": [], "meta": meta}, headers=headers)

    # ---- Webhooks --------------------------------------------------------------

    async def _subscriptions(self, request: Request) -> Response:
        guarded = self._guard(request, "webhooks")
        if isinstance(guarded, Response):
            return guarded
        org, headers = guarded
        if request.method == "GET":
            data = [subscription.resource() for subscription in org.subscriptions.values()]
            meta = {"total_count": len(data), "count": len(data)}
            return JSONResponse({"data": data, "included": [], "meta": meta}, headers=headers)
        try:
            attributes = (await request.json())["data"]["attributes"]
            name, url = str(attributes["name"]), str(attributes["url"])
        except (ValueError, KeyError, TypeError):
            return _errors(400, "Bad Request", "Send data.attributes with name and url.")
        if not EVENT_NAME.match(name):
            return _errors(422, "Unprocessable Entity", f"Name {name!r} is not an event name.")
        if not url.startswith(("https://", "http://")):
            return _errors(422, "Unprocessable Entity", "Url must be an http(s) URL.")
        duplicate = any(s.name == name and s.url == url for s in org.subscriptions.values())
        if duplicate and self.reject_duplicate_subscriptions:
            return _errors(422, "Unprocessable Entity", "Url has already been taken.")
        token = self.registry.lookup("pco", request.headers.get("authorization", "")[7:])
        moment = self._stamp()
        subscription = PcoSubscription(
            id=str(next(self._ids)),
            name=name,
            url=url,
            active=bool(attributes.get("active", True)),
            authenticity_secret=secrets.token_hex(32),
            application_id=token.client_id if token is not None else None,
            created_at=moment,
            updated_at=moment,
        )
        org.subscriptions[subscription.id] = subscription
        return JSONResponse({"data": subscription.resource()}, status_code=201, headers=headers)

    async def _subscription(self, request: Request) -> Response:
        guarded = self._guard(request, "webhooks")
        if isinstance(guarded, Response):
            return guarded
        org, headers = guarded
        subscription = org.subscriptions.get(request.path_params["id"])
        if subscription is None:
            return _errors(404, "Not Found", "The resource you requested could not be found.")
        if request.method == "DELETE":
            del org.subscriptions[subscription.id]
            return Response(status_code=204, headers=headers)
        if request.method == "PATCH":
            try:
                attributes = (await request.json())["data"]["attributes"]
            except (ValueError, KeyError, TypeError):
                return _errors(400, "Bad Request", "Send data.attributes.")
            if set(attributes) - {"active"}:
                return _errors(422, "Unprocessable Entity", "Only active can be changed.")
            subscription.active = bool(attributes.get("active", subscription.active))
            subscription.updated_at = self._stamp()
        return JSONResponse({"data": subscription.resource()}, headers=headers)

    async def _rotate_secret(self, request: Request) -> Response:
        guarded = self._guard(request, "webhooks")
        if isinstance(guarded, Response):
            return guarded
        org, headers = guarded
        subscription = org.subscriptions.get(request.path_params["id"])
        if subscription is None:
            return _errors(404, "Not Found", "The resource you requested could not be found.")
        subscription.authenticity_secret = secrets.token_hex(32)
        return JSONResponse({"data": subscription.resource()}, headers=headers)


def _parse_time(value: str) -> datetime:
    """PCO's where values: a date (midnight UTC) or an ISO 8601 time."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _comparable(field_name: str, value: str) -> Any:
    return int(value) if field_name == "id" else _parse_time(value)


def _comparable_of(person: PcoPerson, field_name: str) -> Any:
    if field_name == "id":
        return int(person.id)
    value: Any = getattr(person, field_name)
    return value


def _compare(value: Any, operator: str | None, bound: Any) -> bool:
    if operator is None:
        return bool(value == bound)
    return bool(
        {"gt": value > bound, "gte": value >= bound, "lt": value < bound, "lte": value <= bound}[
            operator
        ]
    )


__all__ = [
    "PEOPLE_EVENTS",
    "PcoEmail",
    "PcoEmulator",
    "PcoMerger",
    "PcoOrganization",
    "PcoPerson",
    "PcoPhone",
    "PcoSubscription",
]
