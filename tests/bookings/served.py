"""A booking's world for the served-app tests: a Calendly organization with an event
type and a Stripe account, both delivering signed webhooks to the running gateway,
and their sources in it."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx

from tests.emulators.calendly import CalendlyEventType, CalendlySubscription, CalendlyUser
from tests.emulators.suite import ProviderEmulators
from tests.emulators.tokens import utc_now
from tests.fixtures.gateway import RunningGateway
from tests.gateway import deliveries

PRICE = {"amount": 5000, "currency": "usd"}


@dataclass(frozen=True)
class BookingWorld:
    host: CalendlyUser
    event_type: CalendlyEventType
    event_type_uri: str
    calendly_source: str
    stripe_source: str


async def booking_world(
    providers: ProviderEmulators, gateway: RunningGateway, tenant: str = "acme"
) -> BookingWorld:
    calendly, stripe = providers.calendly, providers.stripe
    org = calendly.add_organization()
    host = calendly.add_user(org)
    event_type = calendly.add_event_type(host, "Consultation", 45)
    event_type_uri = calendly.event_type_uri(event_type)
    calendly_source = await gateway.add_source_id(
        "calendly",
        tenant=tenant,
        secret=deliveries.CALENDLY_KEY,
        credentials={"personal_access_token": calendly.add_personal_access_token(host)},
        options={"prices": {event_type_uri: PRICE}},
    )
    stripe_source = await gateway.add_source_id(
        "stripe",
        tenant=tenant,
        secret=deliveries.STRIPE_SECRET,
        credentials={"secret_key": stripe.secret_key},
        options={"refund_on_cancel": True},
    )
    now = utc_now()
    subscription = CalendlySubscription(
        uuid=uuid.uuid4().hex.upper(),
        callback_url=f"{gateway.base_url}/webhooks/calendly/{calendly_source}",
        events=["invitee.created", "invitee.canceled"],
        scope="organization",
        organization_uuid=org.uuid,
        user_uuid=None,
        creator_uuid=host.uuid,
        signing_key=deliveries.CALENDLY_KEY,
        created_at=now,
        updated_at=now,
    )
    org.subscriptions[subscription.uuid] = subscription
    stripe.add_webhook_endpoint(
        f"{gateway.base_url}/webhooks/stripe/{stripe_source}", deliveries.STRIPE_SECRET
    )

    async def deliver(url: str, headers: dict[str, str], body: bytes) -> int:
        return (await gateway.client.post(url, headers=headers, content=body)).status_code

    calendly.deliver = stripe.deliver = deliver
    return BookingWorld(host, event_type, event_type_uri, calendly_source, stripe_source)


async def state_becomes(
    admin: httpx.AsyncClient, booking_id: str, state: str, timeout: float = 30
) -> dict[str, Any]:
    """The booking once `GET /admin/bookings/{id}` shows `state`."""
    async with asyncio.timeout(timeout):
        while True:
            body: dict[str, Any] = (await admin.get(f"/admin/bookings/{booking_id}")).json()
            if body.get("state") == state:
                return body
            await asyncio.sleep(0.05)


CHECKOUT = {
    "amount": 5000,
    "currency": "usd",
    "success_url": "https://example.com/paid",
    "cancel_url": "https://example.com/back",
}


def intent(world: BookingWorld, tenant: str = "acme") -> dict[str, str]:
    """A `POST /admin/bookings` body for the world's event type."""
    return {
        "tenant": tenant,
        "calendly_source_id": world.calendly_source,
        "event_type_uri": world.event_type_uri,
        "name": "Ada Lovelace",
        "email": "ada@example.com",
    }


async def book_and_check_out(admin: httpx.AsyncClient, world: BookingWorld) -> tuple[str, str]:
    """An intent and its checkout through the admin API: the booking and session ids."""
    created = await admin.post("/admin/bookings", json=intent(world))
    assert created.status_code == 201, created.text
    booking_id: str = created.json()["id"]
    checkout = await admin.post(
        f"/admin/bookings/{booking_id}/checkout",
        json={"stripe_source_id": world.stripe_source, **CHECKOUT},
    )
    assert checkout.status_code == 200, checkout.text
    session_id: str = checkout.json()["checkout_session_id"]
    return booking_id, session_id


async def schedule(providers: ProviderEmulators, world: BookingWorld, booking_id: str) -> None:
    """The invitee schedules through the booking's link (its `utm_content`)."""
    meeting = await providers.calendly.add_event(world.host, utc_now() + timedelta(days=1))
    await providers.calendly.add_invitee(
        meeting, "Ada Lovelace", "ada@example.com", tracking={"utm_content": booking_id}
    )
