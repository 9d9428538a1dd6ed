"""hookgate's Stripe client against the Stripe emulator: sessions, refunds, idempotency, events."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import httpx
import pytest

from consumers.stripe.client import StripeClient, StripeError, form_encode
from tests.emulators.stripe import StripeEmulator
from tests.emulators.suite import ProviderEmulators
from tests.fixtures.net import free_port

BOOKING = {"booking_id": "bkg_1", "tenant": "acme"}


def _client(providers: ProviderEmulators, http: httpx.AsyncClient, key: str = "") -> StripeClient:
    return StripeClient(
        http,
        secret_key=key or providers.stripe.secret_key,
        api_base=providers.api_base("stripe"),
    )


async def _session(client: StripeClient, key: str = "checkout-bkg_1") -> str:
    session = await client.create_checkout_session(
        amount=5000,
        currency="usd",
        success_url="https://example.com/paid",
        cancel_url="https://example.com/canceled",
        client_reference_id="bkg_1",
        metadata=BOOKING,
        expires_at=None,
        idempotency_key=key,
    )
    return session.id


async def _paid_intent(providers: ProviderEmulators, client: StripeClient) -> str:
    completed = await providers.stripe.complete_checkout_session(await _session(client))
    return str(completed["payment_intent"])


def test_form_encoding_nests_keys_as_stripe_does() -> None:
    encoded = form_encode(
        {"line_items": [{"price_data": {"unit_amount": 5}}], "metadata": {"a": "b"}, "x": None}
    )

    assert encoded == [("line_items[0][price_data][unit_amount]", "5"), ("metadata[a]", "b")]


async def test_a_checkout_session_names_the_booking_on_it_and_its_payment(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    client = _client(providers, http)

    session = await client.create_checkout_session(
        amount=5000,
        currency="usd",
        success_url="https://example.com/paid",
        cancel_url="https://example.com/canceled",
        client_reference_id="bkg_1",
        metadata=BOOKING,
        expires_at=None,
        idempotency_key="checkout-bkg_1",
    )
    completed = await providers.stripe.complete_checkout_session(session.id)

    assert (session.status, session.amount_total, session.currency) == ("open", 5000, "usd")
    assert session.url is not None
    assert (session.client_reference_id, session.metadata) == ("bkg_1", BOOKING)
    intent = providers.stripe.payment_intents[completed["payment_intent"]]
    assert intent["metadata"] == BOOKING
    (call,) = providers.stripe.api_calls("POST", "/v1/checkout/sessions")
    assert call.idempotency_key == "checkout-bkg_1"


async def test_a_refund_retried_with_its_key_refunds_once(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    client = _client(providers, http)
    intent = await _paid_intent(providers, client)

    first = await client.create_refund(payment_intent=intent, idempotency_key="refund-bkg_1")
    again = await client.create_refund(payment_intent=intent, idempotency_key="refund-bkg_1")

    assert first == again
    assert (first.amount, first.status) == (5000, "succeeded")
    assert len(providers.stripe.refunds_of(intent)) == 1
    assert [c.replayed for c in providers.stripe.api_calls("POST", "/v1/refunds")] == [False, True]


async def test_a_key_reused_with_other_parameters_is_an_idempotency_mismatch(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    client = _client(providers, http)
    intent = await _paid_intent(providers, client)
    await client.create_refund(payment_intent=intent, idempotency_key="k", amount=1000)

    with pytest.raises(StripeError) as caught:
        await client.create_refund(payment_intent=intent, idempotency_key="k", amount=2000)

    assert (caught.value.code, caught.value.status) == ("idempotency_mismatch", 400)
    assert len(providers.stripe.refunds_of(intent)) == 1


async def test_partial_refunds_add_up_and_more_than_is_left_is_refused(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    client = _client(providers, http)
    intent = await _paid_intent(providers, client)
    await client.create_refund(payment_intent=intent, idempotency_key="a", amount=3000)

    with pytest.raises(StripeError) as caught:
        await client.create_refund(payment_intent=intent, idempotency_key="b", amount=2001)
    rest = await client.create_refund(payment_intent=intent, idempotency_key="c")

    assert (caught.value.code, caught.value.stripe_code) == ("invalid_request", "amount_too_large")
    assert rest.amount == 2000
    charge = providers.stripe.charges[providers.stripe.payment_intents[intent]["latest_charge"]]
    assert (charge["amount_refunded"], charge["refunded"]) == (5000, True)


async def test_a_wrong_secret_key_is_unauthorized_and_not_repeated(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    wrong = "sk_test_not_the_key_0123456789"
    client = _client(providers, http, key=wrong)

    with pytest.raises(StripeError) as caught:
        await _session(client)

    assert (caught.value.code, caught.value.status) == ("unauthorized", 401)
    assert wrong not in str(caught.value)
    assert wrong not in repr(caught.value)
    assert wrong not in repr(client)


async def test_a_rate_limit_a_key_in_use_and_no_answer_have_their_codes(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    providers.stripe.faults.inject(429)
    providers.stripe.faults.inject(409)
    closed = StripeClient(http, secret_key="sk_test_x", api_base=f"http://127.0.0.1:{free_port()}")

    with pytest.raises(StripeError) as limited:
        await _session(_client(providers, http))
    with pytest.raises(StripeError) as in_use:
        await _session(_client(providers, http), key="another")
    with pytest.raises(StripeError) as unreachable:
        await _session(closed)

    assert (limited.value.code, in_use.value.code) == ("rate_limited", "rate_limited")
    assert unreachable.value.code == "unreachable"


async def test_paying_sends_signed_events_and_a_doubled_change_as_two_events(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    stripe = providers.stripe
    received: list[tuple[dict[str, str], bytes]] = []

    async def capture(url: str, headers: dict[str, str], body: bytes) -> int:
        received.append((headers, body))
        return 200

    stripe.deliver = capture
    endpoint = stripe.add_webhook_endpoint("http://hookgate.test/webhooks/stripe/src")
    stripe.duplicated_types.add("checkout.session.completed")

    await stripe.complete_checkout_session(await _session(_client(providers, http)))

    events = [json.loads(body) for _, body in received]
    assert [e["type"] for e in events] == [
        "checkout.session.completed",
        "checkout.session.completed",
        "payment_intent.succeeded",
        "charge.succeeded",
    ]
    assert events[0]["id"] != events[1]["id"]
    assert events[0]["data"] == events[1]["data"]
    headers, body = received[0]
    stamp, v1 = (part.split("=", 1)[1] for part in headers["Stripe-Signature"].split(","))
    signed = f"{stamp}.".encode() + body
    assert v1 == hmac.new(endpoint.secrets[0].encode(), signed, hashlib.sha256).hexdigest()


async def test_a_refund_through_the_api_sends_its_events_after_answering(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    stripe: StripeEmulator = providers.stripe
    client = _client(providers, http)
    intent = await _paid_intent(providers, client)
    types: list[str] = []

    async def capture(url: str, headers: dict[str, str], body: bytes) -> int:
        types.append(json.loads(body)["type"])
        return 200

    stripe.deliver = capture
    stripe.add_webhook_endpoint("http://hookgate.test/webhooks/stripe/src")

    await client.create_refund(payment_intent=intent, idempotency_key="r", amount=100)
    await stripe.flush()

    assert types == ["refund.created", "charge.refunded"]
    assert stripe.outbox == []


async def test_a_session_is_retrieved_and_expired_once(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    session = await _session(_client(providers, http))
    url = f"{providers.api_base('stripe')}/v1/checkout/sessions/{session}"
    auth = (providers.stripe.secret_key, "")  # Stripe takes the key as a Basic user too

    got = await http.get(url, auth=auth)
    expired = await http.post(f"{url}/expire", auth=auth)
    again = await http.post(f"{url}/expire", auth=auth)

    assert (got.status_code, got.json()["status"]) == (200, "open")
    assert (expired.status_code, expired.json()["status"], expired.json()["url"]) == (
        200,
        "expired",
        None,
    )
    assert again.status_code == 400
    assert [e["type"] for e in providers.stripe.events] == ["checkout.session.expired"]


async def test_an_expiry_outside_30_minutes_to_24_hours_is_refused(
    providers: ProviderEmulators, http: httpx.AsyncClient
) -> None:
    soon = int(time.time()) + 60

    with pytest.raises(StripeError) as caught:
        await _client(providers, http).create_checkout_session(
            amount=5000,
            currency="usd",
            success_url="https://example.com/paid",
            cancel_url="https://example.com/canceled",
            client_reference_id="bkg_1",
            metadata=BOOKING,
            expires_at=soon,
            idempotency_key="checkout-soon",
        )

    assert (caught.value.code, caught.value.status) == ("invalid_request", 400)
    assert providers.stripe.checkout_sessions == {}
