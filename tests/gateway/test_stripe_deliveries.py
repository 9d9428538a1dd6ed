"""Stripe's deliveries, as the Stripe emulator sends them, through the real served gateway."""

from __future__ import annotations

import json

import httpx
import stripe as stripe_sdk
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from consumers.stripe.client import StripeClient
from gateway.cli import build_parser
from schemas import CloudEvent
from tests.emulators.suite import ProviderEmulators
from tests.fixtures.gateway import RunningGateway
from tests.fixtures.net import serve_on_loopback
from tests.gateway import deliveries
from tests.gateway.provisioning import post_delivery


async def _published(gateway: RunningGateway) -> list[CloudEvent]:
    return [record.to_event() for _, record in await gateway.spool.read(0, 10_000)]


async def _paid_booking(gateway: RunningGateway, providers: ProviderEmulators) -> str:
    """A Stripe source whose endpoint the emulator posts to, and a booking paid through it."""
    source = await gateway.add_source_id("stripe", tenant="acme", secret=deliveries.STRIPE_SECRET)
    stripe = providers.stripe
    stripe.deliver = post_delivery
    stripe.add_webhook_endpoint(
        f"{gateway.base_url}/webhooks/stripe/{source}", deliveries.STRIPE_SECRET
    )
    async with httpx.AsyncClient(timeout=10) as http:
        client = StripeClient(
            http, secret_key=stripe.secret_key, api_base=providers.api_base("stripe")
        )
        session = await client.create_checkout_session(
            amount=2500,
            currency="eur",
            success_url="https://example.com/paid",
            cancel_url="https://example.com/canceled",
            client_reference_id="bkg_7",
            metadata={"booking_id": "bkg_7"},
            expires_at=None,
            idempotency_key="checkout-bkg_7",
        )
    await stripe.complete_checkout_session(session.id)
    return session.id


async def test_a_paid_checkout_lands_as_events_of_the_booking(
    gateway: RunningGateway, providers: ProviderEmulators
) -> None:
    session = await _paid_booking(gateway, providers)

    events = await _published(gateway)

    assert [d.status for d in providers.stripe.delivered] == [200, 200, 200]
    assert [e.type for e in events] == [
        "stripe.checkout_session.completed",
        "stripe.payment_intent.succeeded",
        "stripe.charge.succeeded",
    ]
    assert [e.id for e in events] == [e["id"] for e in providers.stripe.events]
    assert {e.partitionkey for e in events} == {"acme:bkg_7"}
    assert (events[0].subject, events[0].objectkey) == (
        session,
        f"{session}:checkout.session.completed",
    )


async def test_a_retried_event_keeps_its_id_and_a_doubled_change_its_object_key(
    gateway: RunningGateway, providers: ProviderEmulators
) -> None:
    providers.stripe.duplicated_types.add("checkout.session.completed")
    await _paid_booking(gateway, providers)
    first = providers.stripe.events[0]

    assert await providers.stripe.send(first) == [200]  # Stripe retries, signing again

    sent = [json.loads(d.body)["id"] for d in providers.stripe.delivered]
    completed = [e for e in await _published(gateway) if e.type.endswith(".completed")]
    assert [e.id for e in completed] == [sent[0], sent[1], sent[0]]
    assert sent[0] != sent[1]
    assert len({e.objectkey for e in completed}) == 1


async def test_hookgate_send_stripe_signs_as_stripes_library_checks(
    gateway: RunningGateway,
) -> None:
    source = await gateway.add_source_id("stripe", tenant="acme", secret=deliveries.STRIPE_SECRET)
    received: list[tuple[str, bytes]] = []

    async def capture(request: Request) -> JSONResponse:
        received.append((request.headers["stripe-signature"], await request.body()))
        return JSONResponse({"id": "evt_captured"})

    app = Starlette(routes=[Route("/webhooks/stripe/{source}", capture, methods=["POST"])])
    async with serve_on_loopback(app) as base:
        args = build_parser().parse_args(
            ["send", "stripe", "charge.refunded", "--source", source, "--url", base]
        )
        assert await args.run(args, gateway.settings) == 0

    ((header, body),) = received
    event = stripe_sdk.Webhook.construct_event(
        body, header, deliveries.STRIPE_SECRET, tolerance=300
    )
    assert event.type == "charge.refunded"
