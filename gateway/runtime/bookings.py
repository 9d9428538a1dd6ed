"""Bookings composed into the serving process: the admin routes, and the workers that
publish `hookgate.booking.state_changed` (from the outbox, onto `{prefix}.bookings`)
and refund canceled paid bookings (`refund_on_cancel`).

Both workers run in `serve` on either transport: they need the gateway's publisher and
the sources' credentials. The handler that records the facts runs wherever the
consumers do; the sweeper that completes ended meetings runs in their upkeep.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import httpx
from starlette.routing import BaseRoute

from consumers.bookings.desk import BookingDesk, new_booking_id
from consumers.bookings.outbox import StateChanges
from consumers.bookings.refunds import CancelRefunds, Refunder
from consumers.calendly import event_types
from consumers.oauth.api import ApiError
from consumers.stripe.client import StripeClient, StripeError
from gateway.admin.bookings import BookingRoutes, CheckoutSession, Order
from gateway.admin.connectors import ProviderRefused
from gateway.app import GatewayContext
from gateway.bus.topics import BOOKINGS
from gateway.runtime.connect import HTTP_TIMEOUT_SECONDS
from gateway.runtime.credentials import RepositoryTokenStore
from gateway.runtime.syncs import SourceApis
from gateway.store.sources import SourceRecord
from gateway.tasks import running
from schemas import BusRecord, CloudEvent
from schemas.stripe import BOOKING_METADATA_KEY


class RuntimeBookings:
    """`BookingBackend` over the store, Calendly's API and Stripe's, with one HTTP client."""

    def __init__(self, context: GatewayContext, http: httpx.AsyncClient) -> None:
        self._context = context
        self._http = http
        self._desk = BookingDesk(context.engine, context.clock)
        self._credentials = RepositoryTokenStore(context.sources)

    def new_booking_id(self) -> str:
        return new_booking_id()

    async def event_types(self, source: SourceRecord) -> list[dict[str, Any]]:
        api, account = await self._calendly(source)
        try:
            return await event_types.event_types(api, account)
        except ApiError as exc:
            raise ProviderRefused(exc.code, exc.detail) from None

    async def event_type(self, source: SourceRecord, uri: str) -> dict[str, Any]:
        api, _ = await self._calendly(source)
        try:
            return await event_types.event_type(api, uri)
        except ApiError as exc:
            raise ProviderRefused(exc.code, exc.detail) from None

    async def open(self, tenant: str, booking_id: str, intent: Mapping[str, Any]) -> str:
        return await self._desk.open(tenant, booking_id, intent)

    async def create_checkout(
        self,
        source: SourceRecord,
        booking_id: str,
        order: Order,
        *,
        expires_at: int,
        idempotency_key: str,
    ) -> CheckoutSession:
        client = await self.stripe(source.id)
        try:
            return await client.create_checkout_session(
                amount=order.amount,
                currency=order.currency,
                success_url=order.success_url,
                cancel_url=order.cancel_url,
                client_reference_id=booking_id,
                metadata={BOOKING_METADATA_KEY: booking_id},
                expires_at=expires_at,
                idempotency_key=idempotency_key,
            )
        except StripeError as exc:
            raise ProviderRefused(exc.code, exc.detail) from None

    async def checkout_opened(
        self, tenant: str, booking_id: str, session_id: str, details: Mapping[str, Any]
    ) -> str:
        return await self._desk.checkout_opened(tenant, booking_id, session_id, details)

    async def get(self, booking_id: str) -> dict[str, Any] | None:
        return await self._desk.get(booking_id)

    async def stripe(self, source_id: str) -> StripeClient:
        secret_key = (await self._credentials.read(source_id)).get("secret_key", "")
        api_base = self._context.settings.stripe_api_base
        return StripeClient(self._http, secret_key=secret_key, api_base=api_base)

    async def stripe_for(self, source_id: str) -> tuple[Refunder, Mapping[str, Any]] | None:
        """The refunder's view of a Stripe source: its client and options."""
        source = await self._context.sources.get(source_id)
        if source is None or source.provider != "stripe" or not source.has_credentials:
            return None
        return await self.stripe(source_id), source.options

    async def _calendly(self, source: SourceRecord) -> tuple[Any, Mapping[str, Any]]:
        opened = await SourceApis(self._context, self._http).open(source.id)
        if opened is None:
            raise ProviderRefused("unauthorized", "The Calendly source has no usable credentials.")
        return opened


class Bookings:
    """One app's booking routes and workers, sharing one HTTP client."""

    def __init__(self) -> None:
        self._http: httpx.AsyncClient | None = None

    def _backend(self, context: GatewayContext) -> RuntimeBookings:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=HTTP_TIMEOUT_SECONDS)
        return RuntimeBookings(context, self._http)

    def admin_routes(self, context: GatewayContext) -> Sequence[BaseRoute]:
        return BookingRoutes(self._backend(context), context.sources, clock=context.clock).routes()

    @contextlib.asynccontextmanager
    async def running(self, context: GatewayContext) -> AsyncIterator[None]:
        backend = self._backend(context)
        topic = context.settings.topic(BOOKINGS)

        async def publish(events: Sequence[CloudEvent]) -> None:
            await context.publisher.publish(
                [BusRecord.from_event(event, topic) for event in events]
            )

        changes = StateChanges(context.engine, publish, clock=context.clock)
        refunds = CancelRefunds(context.engine, backend.stripe_for)
        try:
            async with (
                running(changes.run_forever(), name="hookgate-booking-state-changes"),
                running(refunds.run_forever(), name="hookgate-booking-refunds"),
            ):
                yield
        finally:
            if self._http is not None:
                await self._http.aclose()
                self._http = None
