"""Booking routes: intents, checkout, reading a booking back, Calendly's session types.

    POST /admin/bookings                    {"tenant", "calendly_source_id", "event_type_uri",
                                             "name", "email"} -> 201 {"id", "state",
                                             "scheduling_url"}
    POST /admin/bookings/{id}/checkout      {"stripe_source_id", "amount", "currency",
                                             "success_url", "cancel_url"} -> 200 {"url",
                                             "checkout_session_id"}; without an amount,
                                             the event type's price
    GET  /admin/bookings/{id}               the booking, its `state` and `history`
    GET  /admin/calendly/{source_id}/event-types
                                            {"event_types": [...]}, each with the `price`
                                            the source's options give it (or null)

The scheduling link carries the booking id as `utm_content`; Calendly hands it back in
the invitee's `tracking`, which joins the `invitee.created` to the booking. What
reaches Calendly, Stripe and the booking facts is composed in by the runtime
(`BookingBackend`), so the admin never imports the consumers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.admin.audit import note_source
from gateway.admin.connectors import ProviderRefused
from gateway.admin.input import Tenant, parse_body
from gateway.ingress.responses import JSON, error
from gateway.store.sources import SourceRecord, SourceRepository
from schemas.credentials import Amount, Currency, Price

CHECKOUT_EXPIRY = timedelta(hours=1)
"""How long a Checkout Session stays open (Stripe allows 30 minutes to 24 hours)."""
PAYABLE = frozenset({"initiated", "scheduled", "payment_pending", "abandoned", "payment_failed"})
"""States a checkout may be opened in: before the invitee scheduled too, since the
payment may come first."""
PRICES_OPTION = "prices"
"""Calendly source option: `{event_type_uri: {"amount", "currency"}}`."""

Text = Annotated[str, Field(min_length=1, max_length=500)]
Url = Annotated[str, Field(min_length=1, max_length=2000, pattern=r"^https?://")]


class CreateBooking(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant: Tenant
    calendly_source_id: Text
    event_type_uri: Text
    name: Text
    email: Annotated[str, Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")]


class OpenCheckout(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stripe_source_id: Text
    amount: Amount | None = None
    """None (with no currency): the price the Calendly source's options give the event type."""
    currency: Currency | None = None
    success_url: Url
    cancel_url: Url


@dataclass(frozen=True)
class Order:
    """What the Checkout Session charges, and where Stripe sends the customer after."""

    amount: int
    currency: str
    success_url: str
    cancel_url: str


class CheckoutSession(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def url(self) -> str | None: ...


class BookingBackend(Protocol):
    """The consumer-side capabilities the routes use (composed by the runtime)."""

    def new_booking_id(self) -> str: ...

    async def event_types(self, source: SourceRecord) -> list[dict[str, Any]]:
        """Raises `ProviderRefused`."""
        ...

    async def event_type(self, source: SourceRecord, uri: str) -> dict[str, Any]:
        """Raises `ProviderRefused` (`not_found` when Calendly has no such type)."""
        ...

    async def open(self, tenant: str, booking_id: str, intent: Mapping[str, Any]) -> str: ...

    async def create_checkout(
        self,
        source: SourceRecord,
        booking_id: str,
        order: Order,
        *,
        expires_at: int,
        idempotency_key: str,
    ) -> CheckoutSession:
        """Raises `ProviderRefused`."""
        ...

    async def checkout_opened(
        self, tenant: str, booking_id: str, session_id: str, details: Mapping[str, Any]
    ) -> str: ...

    async def get(self, booking_id: str) -> dict[str, Any] | None: ...


class BookingRoutes:
    def __init__(
        self,
        backend: BookingBackend,
        repository: SourceRepository,
        *,
        clock: Callable[[], datetime],
    ) -> None:
        self._backend = backend
        self._repository = repository
        self._clock = clock

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/bookings", self.create, methods=["POST"]),
            Route("/bookings/{booking_id}", self.get, methods=["GET"]),
            Route("/bookings/{booking_id}/checkout", self.checkout, methods=["POST"]),
            Route("/calendly/{source_id}/event-types", self.event_types, methods=["GET"]),
        ]

    async def create(self, request: Request) -> Response:
        parsed = await parse_body(request, CreateBooking)
        if isinstance(parsed, Response):
            return parsed
        source = await self._source(parsed.calendly_source_id, "calendly", parsed.tenant)
        if isinstance(source, Response):
            return source
        note_source(request, source.id)
        try:
            event_type = await self._backend.event_type(source, parsed.event_type_uri)
        except ProviderRefused as exc:
            if exc.code == "not_found":
                return error(422, "unknown_event_type", exc.detail)
            return error(502, "calendly_unavailable", exc.detail)
        booking_id = self._backend.new_booking_id()
        link = scheduling_link(
            str(event_type["scheduling_url"]), booking_id, parsed.name, parsed.email
        )
        intent = {
            "calendly_source_id": source.id,
            "event_type_uri": event_type.get("uri") or parsed.event_type_uri,
            "name": parsed.name,
            "email": parsed.email,
            "scheduling_url": link,
        }
        state = await self._backend.open(parsed.tenant, booking_id, intent)
        return JSON({"id": booking_id, "state": state, "scheduling_url": link}, status_code=201)

    async def get(self, request: Request) -> Response:
        found = await self._backend.get(request.path_params["booking_id"])
        if found is None:
            return error(404, "unknown_booking", "No booking with this id exists.")
        return JSON(booking_view(found))

    async def checkout(self, request: Request) -> Response:
        booking_id = request.path_params["booking_id"]
        found = await self._backend.get(booking_id)
        if found is None:
            return error(404, "unknown_booking", "No booking with this id exists.")
        parsed = await parse_body(request, OpenCheckout)
        if isinstance(parsed, Response):
            return parsed
        booking = found["booking"]
        if booking["state"] not in PAYABLE:
            return error(
                409, "not_payable", f"A booking in state {booking['state']} takes no checkout."
            )
        source = await self._source(parsed.stripe_source_id, "stripe", booking["tenant"])
        if isinstance(source, Response):
            return source
        note_source(request, source.id)
        price: Price | None = None
        if parsed.amount is not None and parsed.currency is not None:
            price = Price(amount=parsed.amount, currency=parsed.currency)
        else:
            price = await self._price(found["intent"])
        if price is None:
            return error(
                422,
                "no_price",
                "Give amount and currency: the event type has no price in its source's options.",
            )
        order = Order(price.amount, price.currency, parsed.success_url, parsed.cancel_url)
        expires_at = int((self._clock() + CHECKOUT_EXPIRY).timestamp())
        try:
            session = await self._backend.create_checkout(
                source,
                booking_id,
                order,
                expires_at=expires_at,
                idempotency_key=checkout_key(booking_id, order, len(found["history"])),
            )
        except ProviderRefused as exc:
            return error(502, "stripe_refused", exc.detail)
        details = {
            "stripe_source_id": source.id,
            "amount": order.amount,
            "currency": order.currency,
            "expires_at": expires_at,
        }
        await self._backend.checkout_opened(booking["tenant"], booking_id, session.id, details)
        return JSON({"url": session.url, "checkout_session_id": session.id})

    async def event_types(self, request: Request) -> Response:
        source = await self._repository.get(request.path_params["source_id"])
        if source is None or source.provider != "calendly":
            return error(404, "unknown_source", "No Calendly source with this id exists.")
        if not source.has_credentials:
            return error(422, "no_credentials", "This source has no credentials to call with.")
        try:
            found = await self._backend.event_types(source)
        except ProviderRefused as exc:
            return error(502, "calendly_unavailable", exc.detail)
        prices = source.options.get(PRICES_OPTION)
        prices = prices if isinstance(prices, dict) else {}
        return JSON({"event_types": [{**item, "price": prices.get(item["uri"])} for item in found]})

    async def _price(self, intent: Mapping[str, Any]) -> Price | None:
        """The booking's event type's price in its Calendly source's options, if any."""
        source = await self._repository.get(str(intent.get("calendly_source_id")))
        prices = source.options.get(PRICES_OPTION) if source is not None else None
        price = prices.get(intent.get("event_type_uri")) if isinstance(prices, dict) else None
        try:
            return Price.model_validate(price) if price is not None else None
        except ValidationError:
            return None

    async def _source(self, source_id: str, provider: str, tenant: str) -> SourceRecord | Response:
        source = await self._repository.get(source_id)
        if source is None or source.provider != provider:
            return error(404, "unknown_source", f"No {provider} source with this id exists.")
        if source.tenant != tenant:
            return error(422, "tenant_mismatch", f"The {provider} source is another tenant's.")
        if not source.has_credentials:
            return error(422, "no_credentials", f"The {provider} source has no credentials.")
        return source


def scheduling_link(url: str, booking_id: str, name: str, email: str) -> str:
    """The event type's link with the booking id as `utm_content` (Calendly returns it
    in the invitee's `tracking`) and the invitee's name and email filled in."""
    parts = urlsplit(url)
    query = [
        (key, value)
        for key, value in parse_qsl(parts.query)
        if key not in ("utm_content", "name", "email")
    ]
    query += [("utm_content", booking_id), ("name", name), ("email", email)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def checkout_key(booking_id: str, order: Order, changes: int) -> str:
    """The Checkout Session's `Idempotency-Key`: a request retried before its session was
    recorded gets the same session back; once it was, a new request makes a new one."""
    digest = hashlib.sha256(f"{order!r}|{changes}".encode()).hexdigest()[:24]
    return f"hookgate-checkout-{booking_id}-{digest}"


def booking_view(found: Mapping[str, Any]) -> dict[str, Any]:
    booking = found["booking"]
    moments = ("start_time", "end_time", "paid_at", "refunded_at", "updated_at")
    return {
        "id": booking["booking_id"],
        **{key: value for key, value in booking.items() if key != "booking_id"},
        **{key: _iso(booking[key]) for key in moments},
        "intent": found["intent"],
        "history": [
            {
                "from": change["from_state"],
                "to": change["to_state"],
                "cause_event_id": change["cause_event_id"],
                "at": _iso(change["changed_at"]),
            }
            for change in found["history"]
        ],
    }


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()
