"""A Stripe account in the emulator, reached through the real client, and its events
as the gateway normalizes them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import orjson

from consumers.stripe.client import CheckoutSession, StripeClient
from schemas import CloudEvent, Delivery
from schemas import stripe as stripe_schema
from tests.emulators.stripe import SECRET_KEY, StripeEmulator
from tests.store.events import at

API_BASE = "http://stripe.test"


@dataclass
class StripeAccount:
    emulator: StripeEmulator
    client: StripeClient
    taken: int = 0
    """How many of the emulator's events `new_events` handed out already."""
    sessions: list[CheckoutSession] = field(default_factory=list)

    async def checkout(self, booking_id: str, amount: int = 5000) -> CheckoutSession:
        session = await self.client.create_checkout_session(
            amount=amount,
            currency="usd",
            success_url="https://example.com/ok",
            cancel_url="https://example.com/cancel",
            client_reference_id=booking_id,
            metadata={"booking_id": booking_id},
            expires_at=None,
            idempotency_key=f"checkout-{booking_id}",
        )
        self.sessions.append(session)
        return session

    def new_events(self, tenant: str) -> list[CloudEvent]:
        """The Event objects Stripe made since the last call, as CloudEvents."""
        made, self.taken = self.emulator.events[self.taken :], len(self.emulator.events)
        return [_normalized(tenant, event) for event in made]


def _normalized(tenant: str, event: dict[str, object]) -> CloudEvent:
    delivery = Delivery(
        provider="stripe",
        source_id=f"src-stripe-{tenant}",
        tenant=tenant,
        headers={},
        body=orjson.dumps(event),
        received_at=at(0),
    )
    return stripe_schema.normalize(delivery).events[0]


@contextlib.asynccontextmanager
async def stripe_account() -> AsyncIterator[StripeAccount]:
    emulator = StripeEmulator()
    transport = httpx.ASGITransport(app=emulator.app)
    async with httpx.AsyncClient(transport=transport) as http:
        yield StripeAccount(emulator, StripeClient(http, secret_key=SECRET_KEY, api_base=API_BASE))
