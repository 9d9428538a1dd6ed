"""A LeadConnector (GoHighLevel) API v2 emulator, with its OAuth server.

It follows /work/shared/provider-apis.md §2:

- OAuth (`/v2/oauth/chooselocation`, `/oauth/token`): form-body client credentials,
  24 h access tokens, rotating refresh tokens; the token answer carries `userType`,
  `locationId`, `companyId`, `approvedLocations`, `userId`, `planId`,
  `isBulkInstallation`. No revocation endpoint.
- Every API call needs `Version: 2021-07-28` and `Authorization: Bearer` with an OAuth
  token of the location or a private integration token (`add_private_integration_token`)
  of it; another location's id answers 403.
- `POST /contacts/search` (`locationId` and `pageLimit` ≤ 500 required, else 422; `page`
  up to 10,000 records deep, or the `searchAfter` cursor each contact carries, not both;
  `filters` on `dateUpdated`/`dateAdded` ranges and `id`/`email`/`phone` equality; `sort`)
  answering `{contacts, total, traceId}`; `GET /contacts/{id}`; `GET /locations/{id}`.
- 100 requests per 10 s per app and location, 200,000 a day, with the `X-RateLimit-*`
  headers on every answer and 429 past them.
- Webhooks: the Marketplace app has one `webhook_url` for every location; `install` and
  `uninstall` post `AppInstall`/`AppUninstall`, and contact changes of an installed
  location post `ContactCreate`/`ContactUpdate`/`ContactDelete`, signed with Ed25519
  (`x-ghl-signature`) by `signing_key` (its public half: `public_key_pem`).
"""

from __future__ import annotations

import base64
import itertools
import json
import secrets
import string
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.emulators.faults import Faults
from tests.emulators.oauth import OAuthServer
from tests.emulators.oauth_providers import GHL_OAUTH
from tests.emulators.ratelimit import FixedWindowLimiter
from tests.emulators.tokens import (
    AccessToken,
    Clock,
    OAuthAccount,
    TokenRegistry,
    bearer_token,
    utc_now,
)

API_VERSION = "2021-07-28"
MAX_PAGE_LIMIT = 500
MAX_PAGED_RECORDS = 10_000
SORTABLE = {"dateAdded": "date_added", "dateUpdated": "date_updated"}
APP_ID = "emulated-marketplace-app"

Deliver = Callable[[str, dict[str, str], bytes], Awaitable[int]]
"""Posts a delivery (url, headers, body); returns the HTTP status."""


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _ghl_id() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(20))


def _error(status: int, message: str | list[str], **headers: str) -> JSONResponse:
    body: dict[str, Any] = {"statusCode": status, "message": message}
    if status == 422:
        body["error"] = "Unprocessable Entity"
    return JSONResponse(body, status_code=status, headers=headers or None)


@dataclass
class GhlContact:
    id: str
    location_id: str
    first_name: str
    last_name: str
    email: str | None
    phone: str | None
    tags: list[str]
    date_added: datetime
    date_updated: datetime

    def resource(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "locationId": self.location_id,
            "firstName": self.first_name,
            "lastName": self.last_name,
            "contactName": f"{self.first_name} {self.last_name}".strip().lower(),
            "email": self.email,
            "phone": self.phone,
            "tags": list(self.tags),
            "type": "lead",
            "source": None,
            "dnd": False,
            "companyName": None,
            "customFields": [],
            "dateAdded": _iso(self.date_added),
            "dateUpdated": _iso(self.date_updated),
        }


@dataclass
class GhlLocation:
    id: str
    company_id: str
    name: str
    timezone: str = "America/New_York"
    contacts: dict[str, GhlContact] = field(default_factory=dict)

    def resource(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "companyId": self.company_id,
            "name": self.name,
            "domain": "",
            "address": "1 Main St",
            "city": "Springfield",
            "state": "IL",
            "country": "US",
            "postalCode": "62701",
            "website": "",
            "timezone": self.timezone,
            "email": f"office@{self.id.lower()}.example.com",
            "phone": "+15555550100",
        }


@dataclass
class GhlCounters:
    requests: int = 0
    searches: int = 0
    unauthorized: int = 0


class GhlEmulator:
    """State and Starlette app of LeadConnector (any number of locations)."""

    def __init__(self, registry: TokenRegistry | None = None, *, now: Clock = utc_now) -> None:
        self._now = now
        self.registry = registry or TokenRegistry(now)
        self.oauth = OAuthServer(GHL_OAUTH, self.registry, now=now, token_fields=self._token_fields)
        self.locations: dict[str, GhlLocation] = {}
        self.burst_limit = FixedWindowLimiter(100, 10, now)
        self.daily_limit = FixedWindowLimiter(200_000, 86_400, now)
        self.retry_after_on_429 = True
        """GHL does not document `Retry-After`; False leaves it out of the 429."""
        self.counters = GhlCounters()
        self.signing_key = Ed25519PrivateKey.generate()
        self.webhook_url: str | None = None
        """The Marketplace app's one webhook URL (deliveries of every location)."""
        self.installed: set[str] = set()
        self.deliver: Deliver | None = None
        self.delivered: list[tuple[str, dict[str, str], bytes, int]] = []
        self.faults = Faults()
        """Injected answers of API requests that passed auth and the rate limit."""
        self._clock_ms = 0
        self._seq = itertools.count(1)
        self.app = Starlette(
            routes=[
                Route("/v2/oauth/chooselocation", self.oauth.authorize, methods=["GET"]),
                Route("/v2/oauth/decide", self.oauth.decide, methods=["GET"]),
                Route("/oauth/token", self.oauth.token, methods=["POST"]),
                Route("/contacts/search", self._search, methods=["POST"]),
                Route("/contacts/{id}", self._contact, methods=["GET"]),
                Route("/locations/{id}", self._location, methods=["GET"]),
            ]
        )

    def _token_fields(self, account: OAuthAccount) -> Mapping[str, Any]:
        """What GHL's token answer says about a sub-account (location) install."""
        return {
            "userType": "Location",
            "locationId": account.organization_id,
            "companyId": self.locations[account.organization_id].company_id,
            "approvedLocations": [account.organization_id],
            "userId": account.user_id,
            "planId": "plan_emulated",
            "isBulkInstallation": False,
        }

    # ---- test controls ---------------------------------------------------------

    def add_location(self, name: str = "Acme Dental", company_id: str | None = None) -> GhlLocation:
        location = GhlLocation(_ghl_id(), company_id or _ghl_id(), name)
        self.locations[location.id] = location
        return location

    def account(self, location: GhlLocation, user_id: str | None = None) -> OAuthAccount:
        """A user who installs the app on `location` (see `oauth.approve`)."""
        account = OAuthAccount(user_id or _ghl_id(), location.id, location.name)
        return self.oauth.add_account(account)

    def add_private_integration_token(self, location: GhlLocation) -> str:
        """A sub-account private integration token of `location` (every scope)."""
        token = f"pit-{uuid.uuid4()}"
        self.registry.issue(
            "ghl", OAuthAccount(f"pit:{token[4:12]}", location.id), lifetime=None, token=token
        )
        return token

    @property
    def public_key_pem(self) -> str:
        """The key to verify `x-ghl-signature` with (hookgate's GHL Ed25519 key setting)."""
        return (
            self.signing_key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    def signed_webhook(self, payload: Mapping[str, Any]) -> tuple[dict[str, str], bytes]:
        """The headers and body GHL posts for `payload` (`timestamp`, `webhookId` added)."""
        body = json.dumps(
            {**payload, "timestamp": _iso(self._now()), "webhookId": str(uuid.uuid4())}
        ).encode()
        signature = base64.b64encode(self.signing_key.sign(body)).decode()
        return {"Content-Type": "application/json", "x-ghl-signature": signature}, body

    async def install(self, location: GhlLocation, user_id: str = "installer") -> None:
        """The app is installed on `location`: `AppInstall`, then its contact events."""
        self.installed.add(location.id)
        await self._send(
            location,
            {
                "type": "AppInstall",
                "appId": APP_ID,
                "versionId": APP_ID,
                "installType": "Location",
                "locationId": location.id,
                "companyId": location.company_id,
                "userId": user_id,
                "companyName": "Emulated Agency",
                "isWhitelabelCompany": False,
            },
        )

    async def uninstall(self, location: GhlLocation) -> None:
        await self._send(
            location,
            {
                "type": "AppUninstall",
                "appId": APP_ID,
                "locationId": location.id,
                "companyId": location.company_id,
            },
        )
        self.installed.discard(location.id)

    async def _send(self, location: GhlLocation, payload: Mapping[str, Any]) -> None:
        if self.deliver is None or self.webhook_url is None or location.id not in self.installed:
            return
        headers, body = self.signed_webhook(payload)
        status = await self.deliver(self.webhook_url, headers, body)
        self.delivered.append((self.webhook_url, headers, body, status))

    async def _contact_event(self, kind: str, contact: GhlContact) -> None:
        fields = contact.resource()
        payload = {**fields, "type": kind, "name": fields["contactName"]}
        await self._send(self.locations[contact.location_id], payload)

    def _tick(self) -> datetime:
        """Now in ms, strictly later than the previous change (a stable sort order)."""
        self._clock_ms = max(_ms(self._now()), self._clock_ms + 1)
        return datetime.fromtimestamp(self._clock_ms / 1000, UTC)

    async def add_contact(
        self,
        location: GhlLocation,
        first_name: str,
        last_name: str,
        *,
        email: str | None = None,
        phone: str | None = None,
        tags: Iterable[str] = (),
    ) -> GhlContact:
        moment = self._tick()
        contact = GhlContact(
            _ghl_id(), location.id, first_name, last_name, email, phone, list(tags), moment, moment
        )
        location.contacts[contact.id] = contact
        await self._contact_event("ContactCreate", contact)
        return contact

    def add_contacts(self, location: GhlLocation, count: int) -> list[GhlContact]:
        """`count` contacts with an email and a phone each, at once (no deliveries)."""
        contacts = []
        for n in range(count):
            moment = self._tick()
            contact = GhlContact(
                _ghl_id(),
                location.id,
                f"First{n}",
                f"Last{n}",
                f"c{n}@example.com",
                f"+1555{n:07d}",
                [],
                moment,
                moment,
            )
            location.contacts[contact.id] = contact
            contacts.append(contact)
        return contacts

    async def update_contact(
        self, location: GhlLocation, contact_id: str, **changes: Any
    ) -> GhlContact:
        """Change fields of a contact (`first_name`, `email`, `tags`, …)."""
        contact = location.contacts[contact_id]
        for name, value in changes.items():
            if not hasattr(contact, name):
                raise AttributeError(name)
            setattr(contact, name, value)
        contact.date_updated = self._tick()
        await self._contact_event("ContactUpdate", contact)
        return contact

    async def delete_contact(self, location: GhlLocation, contact_id: str) -> GhlContact:
        contact = location.contacts.pop(contact_id)
        await self._contact_event("ContactDelete", contact)
        return contact

    # ---- request plumbing ------------------------------------------------------

    def _guard(
        self, request: Request, location_id: str | None, scopes: Iterable[str]
    ) -> tuple[GhlLocation, AccessToken, dict[str, str]] | Response:
        self.counters.requests += 1
        if request.headers.get("version") is None:
            return _error(400, "Version header was not found")
        token = self.registry.lookup("ghl", bearer_token(request) or "")
        if token is None:
            self.counters.unauthorized += 1
            return _error(401, "Invalid JWT")
        wanted = location_id or token.account.organization_id
        if wanted != token.account.organization_id:
            return _error(403, "The token does not have access to this location")
        if not token.allows(scopes):
            return _error(401, "This authClass type is not allowed to access this scope")
        location = self.locations.get(wanted)
        if location is None:
            return _error(400, "Location not found")
        key = f"{token.client_id or token.account.user_id}:{location.id}"
        burst = self.burst_limit.hit(key)
        daily = self.daily_limit.hit(key)
        headers = {
            "X-RateLimit-Limit-Daily": str(daily.limit),
            "X-RateLimit-Daily-Remaining": str(daily.remaining),
            "X-RateLimit-Interval-Milliseconds": str(int(self.burst_limit.period * 1000)),
            "X-RateLimit-Max": str(burst.limit),
            "X-RateLimit-Remaining": str(burst.remaining),
        }
        if not (burst.allowed and daily.allowed):
            refused = burst if not burst.allowed else daily
            if self.retry_after_on_429:
                headers["Retry-After"] = refused.retry_after
            return _error(429, "Too Many Requests", **headers)
        return self.faults.next() or (location, token, headers)

    # ---- endpoints -------------------------------------------------------------

    async def _location(self, request: Request) -> Response:
        guarded = self._guard(request, request.path_params["id"], ["locations.readonly"])
        if isinstance(guarded, Response):
            return guarded
        location, _, headers = guarded
        return JSONResponse({"location": location.resource()}, headers=headers)

    async def _contact(self, request: Request) -> Response:
        guarded = self._guard(request, None, ["contacts.readonly", "contacts.write"])
        if isinstance(guarded, Response):
            return guarded
        location, _, headers = guarded
        contact = location.contacts.get(request.path_params["id"])
        if contact is None:
            return _error(400, "Contact not found", **headers)
        return JSONResponse({"contact": contact.resource()}, headers=headers)

    async def _search(self, request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _error(422, ["body must be a JSON object"])
        problems = _search_problems(body)
        if problems:
            return _error(422, problems)
        guarded = self._guard(request, str(body["locationId"]), ["contacts.readonly"])
        if isinstance(guarded, Response):
            return guarded
        location, _, headers = guarded
        self.counters.searches += 1
        matched = _filtered(list(location.contacts.values()), body.get("filters") or [])
        if isinstance(matched, str):
            return _error(422, [matched], **headers)
        sort = (body.get("sort") or [{"field": "dateAdded", "direction": "desc"}])[0]
        attribute = SORTABLE[sort["field"]]
        descending = sort.get("direction", "desc") == "desc"

        def sort_key(contact: GhlContact) -> tuple[int, str]:
            return (_ms(getattr(contact, attribute)), contact.id)

        matched.sort(key=sort_key, reverse=descending)
        limit = int(body["pageLimit"])
        after = body.get("searchAfter")
        if after is not None:
            cursor = (int(after[0]), str(after[1]))
            matched = [
                contact
                for contact in matched
                if (sort_key(contact) < cursor if descending else sort_key(contact) > cursor)
            ]
            page = matched[:limit]
        else:
            start = (int(body.get("page", 1)) - 1) * limit
            page = matched[start : start + limit]
        contacts = [
            {**contact.resource(), "searchAfter": list(sort_key(contact))} for contact in page
        ]
        total = len(_filtered(list(location.contacts.values()), body.get("filters") or []))
        return JSONResponse(
            {"contacts": contacts, "total": total, "traceId": str(uuid.uuid4())}, headers=headers
        )


def _search_problems(body: Mapping[str, Any]) -> list[str]:
    problems = []
    if not isinstance(body.get("locationId"), str) or not body["locationId"]:
        problems.append("locationId should not be empty")
    limit = body.get("pageLimit")
    if not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_LIMIT:
        problems.append(f"pageLimit must be an integer from 1 to {MAX_PAGE_LIMIT}")
    if "page" in body and "searchAfter" in body:
        problems.append("page and searchAfter cannot be sent together")
    page = body.get("page", 1)
    if not isinstance(page, int) or page < 1:
        problems.append("page must be a positive integer")
    elif isinstance(limit, int) and page * limit > MAX_PAGED_RECORDS:
        problems.append("searchAfter is required for more than 10000 records")
    after = body.get("searchAfter")
    if after is not None and not (isinstance(after, list) and len(after) == 2):
        problems.append("searchAfter must be the searchAfter array of a contact")
    sort = body.get("sort")
    if sort is not None and not (
        isinstance(sort, list)
        and len(sort) == 1
        and isinstance(sort[0], dict)
        and sort[0].get("field") in SORTABLE
        and sort[0].get("direction", "desc") in ("asc", "desc")
    ):
        problems.append("sort must be one {field: dateAdded|dateUpdated, direction} item")
    return problems


def _time_bound(value: Any) -> int:
    if isinstance(value, int):
        return value
    return _ms(datetime.fromisoformat(str(value).replace("Z", "+00:00")))


def _filtered(contacts: list[GhlContact], filters: Any) -> list[GhlContact] | str:
    """Contacts passing every filter (AND), or what is wrong with the filters."""
    if not isinstance(filters, list):
        return "filters must be a list"
    for item in filters:
        if not isinstance(item, dict):
            return "each filter must be an object"
        name, operator, value = item.get("field"), item.get("operator"), item.get("value")
        if name in SORTABLE and operator == "range" and isinstance(value, dict):
            try:
                bounds = {op: _time_bound(v) for op, v in value.items()}
            except ValueError:
                return f"invalid range for {name}"
            attribute = SORTABLE[name]
            checks = {
                "gt": lambda a, b: a > b,
                "gte": lambda a, b: a >= b,
                "lt": lambda a, b: a < b,
                "lte": lambda a, b: a <= b,
            }
            if set(bounds) - set(checks):
                return "range takes gt, gte, lt, lte"
            contacts = [
                c
                for c in contacts
                if all(checks[op](_ms(getattr(c, attribute)), b) for op, b in bounds.items())
            ]
        elif name in ("id", "email", "phone") and operator == "eq":
            contacts = [c for c in contacts if getattr(c, name) == value]
        else:
            return f"unsupported filter {name!r} {operator!r}"
    return contacts
