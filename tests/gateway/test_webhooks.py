"""The webhook route end to end on a real server: every status of the contract."""

from __future__ import annotations

from collections.abc import MutableMapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

import verifiers.ghl
from gateway.app import create_app
from gateway.bus.spool import Spool
from schemas import BusRecord, samples
from tests.fixtures.gateway import FrozenClock, RunningGateway, make_settings, running_gateway
from tests.gateway import deliveries

GOOGLE_CREDENTIALS = {"client_id": "cid", "client_secret": "csecret", "refresh_token": "rtoken"}


async def published(gateway: RunningGateway) -> list[BusRecord]:
    return [record for _, record in await gateway.spool.read(0, 10_000)]


async def post(
    gateway: RunningGateway, provider: str, source_id: str, signed: deliveries.Signed
) -> httpx.Response:
    return await gateway.client.post(
        f"/webhooks/{provider}/{source_id}", content=signed.body, headers=signed.headers
    )


@pytest.fixture
async def sources(gateway: RunningGateway) -> dict[str, str]:
    made = {
        "calendly": await gateway.add_source(
            "calendly", tenant="acme", secret=deliveries.CALENDLY_KEY
        ),
        "pco": await gateway.add_source("pco", tenant="acme", secret=deliveries.PCO_SECRET),
        "ghl": await gateway.add_source("ghl", tenant="acme"),
        "google": await gateway.add_source("google", tenant="acme", credentials=GOOGLE_CREDENTIALS),
        "stripe": await gateway.add_source(
            "stripe", tenant="acme", secret=deliveries.STRIPE_SECRET
        ),
    }
    return {provider: source["id"] for provider, source in made.items()}


def genuine(
    provider: str, source_id: str, clock: FrozenClock, ghl_key: Ed25519PrivateKey
) -> deliveries.Signed:
    if provider == "calendly":
        return deliveries.calendly(clock.now)
    if provider == "pco":
        return deliveries.pco(clock.now)
    if provider == "ghl":
        return deliveries.ghl(clock.now, ghl_key)
    if provider == "stripe":
        return deliveries.stripe(clock.now)
    return deliveries.google(clock.now, source_id)


EXPECTED_TYPES = {
    "calendly": "calendly.invitee.created",
    "pco": "pco.person.created",
    "ghl": "ghl.contact.created",
    "google": "google.calendar.changed",
    "stripe": "stripe.checkout_session.completed",
}


@pytest.mark.parametrize("provider", sorted(EXPECTED_TYPES))
async def test_genuine_delivery_is_accepted_and_published(
    gateway: RunningGateway,
    sources: dict[str, str],
    clock: FrozenClock,
    ghl_ed25519_key: Ed25519PrivateKey,
    provider: str,
) -> None:
    source_id = sources[provider]
    signed = genuine(provider, source_id, clock, ghl_ed25519_key)
    if provider == "google":  # a notification of a channel the source opened
        channel = await gateway.add_google_channel(source_id)
        signed = deliveries.google(clock.now, source_id, channel_id=channel)
    response = await post(gateway, provider, source_id, signed)
    assert response.status_code == 200, response.text
    event_id = response.json()["id"]
    [record] = await published(gateway)
    event = record.to_event()
    assert record.topic == f"hookgate.{provider}"
    assert (event.id, event.type, event.tenant, event.provider) == (
        event_id,
        EXPECTED_TYPES[provider],
        "acme",
        provider,
    )
    assert record.key.decode().startswith("acme:")
    headers = dict(record.headers)
    for name in ("ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "ce_subject"):
        assert headers[name], name
    assert headers["content-type"] == b"application/json"


async def test_legacy_rsa_ghl_signature_is_accepted(
    gateway: RunningGateway,
    sources: dict[str, str],
    clock: FrozenClock,
    ghl_rsa_key: RSAPrivateKey,
) -> None:
    body = samples.sample("ghl", "ContactUpdate", now=clock.now)
    response = await gateway.client.post(
        f"/webhooks/ghl/{sources['ghl']}",
        content=body,
        headers=verifiers.ghl.sign_rsa(body, ghl_rsa_key),
    )
    assert response.status_code == 200, response.text


def _tampered(signed: deliveries.Signed) -> deliveries.Signed:
    return deliveries.Signed(signed.headers, signed.body.replace(b"a", b"b", 1))


def _without(signed: deliveries.Signed, *names: str) -> deliveries.Signed:
    lowered = {n.lower() for n in names}
    return deliveries.Signed(
        {k: v for k, v in signed.headers.items() if k.lower() not in lowered}, signed.body
    )


def _v0_only(signed: deliveries.Signed) -> deliveries.Signed:
    """Stripe's legacy test-mode scheme in place of `v1`."""
    headers = {name: value.replace("v1=", "v0=") for name, value in signed.headers.items()}
    return deliveries.Signed(headers, signed.body)


async def rejection_cases(
    sources: dict[str, str], clock: FrozenClock, ghl_key: Ed25519PrivateKey
) -> list[tuple[str, str, deliveries.Signed, str]]:
    now = clock.now
    stale = now - timedelta(minutes=10)
    other_ghl_key = Ed25519PrivateKey.generate()
    google_id = sources["google"]
    return [
        ("calendly", "tampered body", _tampered(deliveries.calendly(now)), "invalid_signature"),
        ("calendly", "wrong secret", deliveries.calendly(now, key="nope"), "invalid_signature"),
        (
            "calendly",
            "missing header",
            _without(deliveries.calendly(now), "Calendly-Webhook-Signature"),
            "missing_signature",
        ),
        (
            "calendly",
            "stale timestamp",
            deliveries.calendly(stale, body=samples.sample("calendly", "invitee.created", now=now)),
            "stale_timestamp",
        ),
        ("pco", "tampered body", _tampered(deliveries.pco(now)), "invalid_signature"),
        ("pco", "wrong secret", deliveries.pco(now, secret="nope"), "invalid_signature"),
        (
            "pco",
            "missing header",
            _without(deliveries.pco(now), "X-PCO-Webhooks-Authenticity"),
            "missing_signature",
        ),
        ("ghl", "tampered body", _tampered(deliveries.ghl(now, ghl_key)), "invalid_signature"),
        ("ghl", "wrong key", deliveries.ghl(now, other_ghl_key), "invalid_signature"),
        (
            "ghl",
            "missing header",
            _without(deliveries.ghl(now, ghl_key), "x-ghl-signature"),
            "missing_signature",
        ),
        (
            "ghl",
            "stale timestamp",
            deliveries.ghl(now, ghl_key, body=samples.sample("ghl", "ContactCreate", now=stale)),
            "stale_timestamp",
        ),
        ("stripe", "tampered body", _tampered(deliveries.stripe(now)), "invalid_signature"),
        ("stripe", "v0 only", _v0_only(deliveries.stripe(now)), "invalid_signature"),
        (
            "stripe",
            "future timestamp",
            deliveries.stripe(
                now + timedelta(minutes=10),
                body=samples.sample("stripe", "refund.created", now=now),
            ),
            "stale_timestamp",
        ),
        (
            "google",
            "expired token",
            deliveries.google(now, google_id, expires_at=now - timedelta(seconds=1)),
            "expired_token",
        ),
        (
            "google",
            "forged token",
            deliveries.google(now, google_id, keys=(b"an attacker's key, 32 bytes long",)),
            "invalid_token",
        ),
        (
            "google",
            "token of another source",
            deliveries.google(now, sources["calendly"]),
            "channel_mismatch",
        ),
        (
            "google",
            "missing token",
            _without(deliveries.google(now, google_id), "X-Goog-Channel-Token"),
            "missing_token",
        ),
    ]


async def test_each_bad_delivery_gets_401_with_its_code_and_nothing_is_published(
    gateway: RunningGateway,
    sources: dict[str, str],
    clock: FrozenClock,
    ghl_ed25519_key: Ed25519PrivateKey,
) -> None:
    seen: dict[str, Any] = {}
    for provider, case, signed, code in await rejection_cases(sources, clock, ghl_ed25519_key):
        response = await post(gateway, provider, sources[provider], signed)
        body = response.json()
        seen[f"{provider}: {case}"] = (response.status_code, body["error"])
        assert response.status_code == 401, (provider, case, response.text)
        assert body["error"] == code, (provider, case, body)
        assert body["detail"].endswith("."), body
    assert await published(gateway) == []
    metrics = (await gateway.client.get("/metrics")).text
    assert (
        'hookgate_verification_failures_total{provider="calendly",reason="stale_timestamp"} 1.0'
        in metrics
    )
    assert 'hookgate_deliveries_total{outcome="rejected",provider="google"} 4.0' in metrics


async def test_unknown_source_and_source_of_another_provider_get_404(
    gateway: RunningGateway, sources: dict[str, str], clock: FrozenClock
) -> None:
    signed = deliveries.calendly(clock.now)
    for path in (
        "/webhooks/calendly/src_does_not_exist",
        f"/webhooks/pco/{sources['calendly']}",
        f"/webhooks/stripe/{sources['calendly']}",
    ):
        response = await gateway.client.post(path, content=signed.body, headers=signed.headers)
        assert response.status_code == 404, path
        assert response.json()["error"] == "unknown_source"
    assert await published(gateway) == []


async def test_validly_signed_garbage_gets_400(
    gateway: RunningGateway,
    sources: dict[str, str],
    clock: FrozenClock,
    ghl_ed25519_key: Ed25519PrivateKey,
) -> None:
    for provider, signed in (
        ("calendly", deliveries.calendly(clock.now, body=b"not json at all")),
        ("pco", deliveries.pco(clock.now, body=b'{"data": "nope"}')),
        ("ghl", deliveries.ghl(clock.now, ghl_ed25519_key, body=b"[1, 2, 3]")),
        ("stripe", deliveries.stripe(clock.now, body=b'{"object": "event"}')),
    ):
        response = await post(gateway, provider, sources[provider], signed)
        assert response.status_code == 400, (provider, response.text)
        assert response.json()["error"] == "malformed_payload"
        assert response.json()["detail"]
    assert await published(gateway) == []


async def test_oversized_body_gets_413_declared(
    gateway: RunningGateway, sources: dict[str, str], clock: FrozenClock
) -> None:
    body = b"x" * (gateway.settings.max_body_bytes + 1)
    signed = deliveries.calendly(clock.now, body=body)
    response = await post(gateway, "calendly", sources["calendly"], signed)
    assert response.status_code == 413
    assert response.json()["error"] == "body_too_large"


async def test_oversized_chunked_body_gets_413_without_being_read_whole(
    gateway: RunningGateway, sources: dict[str, str], clock: FrozenClock
) -> None:
    """Driven at the ASGI level, so the test counts exactly how much the gateway pulled."""
    chunk = b"y" * 16_384
    offered = 4096  # 64 MiB offered, no Content-Length, against a 64 KiB limit
    pulled = 0

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": chunk, "more_body": pulled < offered}

    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    signed = deliveries.calendly(clock.now)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": f"/webhooks/calendly/{sources['calendly']}",
        "raw_path": f"/webhooks/calendly/{sources['calendly']}".encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in signed.headers.items()],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    await gateway.app(scope, receive, send)
    assert sent[0]["status"] == 413
    assert orjson.loads(sent[1]["body"])["error"] == "body_too_large"
    limit_chunks = gateway.settings.max_body_bytes // len(chunk)
    assert pulled <= limit_chunks + 1, f"pulled {pulled} chunks for a {limit_chunks}-chunk limit"
    assert await published(gateway) == []


async def test_retried_delivery_maps_to_the_same_event_id(
    gateway: RunningGateway,
    sources: dict[str, str],
    clock: FrozenClock,
    ghl_ed25519_key: Ed25519PrivateKey,
) -> None:
    first_now = clock.now
    calendly_body = samples.sample("calendly", "invitee.created", now=first_now)
    pco_first = samples.pco("person.updated", now=first_now, delivery_id="d-1", attempt=1)
    pco_retry = samples.pco("person.updated", now=first_now, delivery_id="d-1", attempt=2)
    ghl_body = samples.sample("ghl", "ContactUpdate", now=first_now)
    first = {
        "calendly": await post(
            gateway,
            "calendly",
            sources["calendly"],
            deliveries.calendly(first_now, body=calendly_body),
        ),
        "pco": await post(
            gateway, "pco", sources["pco"], deliveries.pco(first_now, body=pco_first)
        ),
        "ghl": await post(
            gateway,
            "ghl",
            sources["ghl"],
            deliveries.ghl(first_now, ghl_ed25519_key, body=ghl_body),
        ),
    }
    clock.now = first_now + timedelta(seconds=90)  # the provider retries later, re-signing
    again = {
        "calendly": await post(
            gateway,
            "calendly",
            sources["calendly"],
            deliveries.calendly(clock.now, body=calendly_body),
        ),
        "pco": await post(
            gateway, "pco", sources["pco"], deliveries.pco(clock.now, body=pco_retry)
        ),
        "ghl": await post(
            gateway,
            "ghl",
            sources["ghl"],
            deliveries.ghl(clock.now, ghl_ed25519_key, body=ghl_body),
        ),
    }
    for provider in first:
        assert first[provider].status_code == again[provider].status_code == 200
        assert first[provider].json()["id"] == again[provider].json()["id"], provider
    ids = {record.event_id for record in await published(gateway)}
    assert len(ids) == 3


async def test_google_sync_handshake_is_acknowledged_not_published(
    gateway: RunningGateway, sources: dict[str, str], clock: FrozenClock
) -> None:
    signed = deliveries.google(clock.now, sources["google"], state="sync", message_number=1)
    response = await post(gateway, "google", sources["google"], signed)
    assert response.status_code == 200
    assert response.json()["id"]
    assert await published(gateway) == []


async def test_accepted_only_once_durable(
    gateway: RunningGateway, sources: dict[str, str], clock: FrozenClock
) -> None:
    """The 2xx comes after the spool synced: reopening the file shows the event."""
    response = await post(gateway, "calendly", sources["calendly"], deliveries.calendly(clock.now))
    assert response.status_code == 200
    async with Spool(gateway.settings.spool_path) as second_reader:
        records = await second_reader.read(0, 10)
    assert [orjson.loads(r.value)["event"] for _, r in records] == ["invitee.created"]


async def test_configured_tolerance_reaches_the_verifier(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, calendly_tolerance_seconds=900)
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    async with running_gateway(settings, lambda s: create_app(s, clock=clock)) as gateway:
        source = await gateway.add_source("calendly", tenant="acme", secret=deliveries.CALENDLY_KEY)
        ten_minutes_old = deliveries.calendly(clock.now - timedelta(minutes=10))
        accepted = await post(gateway, "calendly", source["id"], ten_minutes_old)
        twenty_minutes_old = deliveries.calendly(clock.now - timedelta(minutes=20))
        refused = await post(gateway, "calendly", source["id"], twenty_minutes_old)
    assert accepted.status_code == 200, accepted.text
    assert refused.status_code == 401
    assert refused.json()["error"] == "stale_timestamp"


async def test_one_log_line_per_delivery_with_its_outcome_and_request_id(
    gateway: RunningGateway,
    sources: dict[str, str],
    clock: FrozenClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO", logger="hookgate")
    good = deliveries.calendly(clock.now)
    accepted = await gateway.client.post(
        f"/webhooks/calendly/{sources['calendly']}",
        content=good.body,
        headers={**good.headers, "X-Request-ID": "req-abc-123"},
    )
    refused = await post(gateway, "calendly", sources["calendly"], _tampered(good))
    lines = [vars(r) for r in caplog.records if r.getMessage() == "delivery"]
    assert [(r["outcome"], r["status"], r.get("reason")) for r in lines] == [
        ("accepted", 200, None),
        ("rejected", 401, "invalid_signature"),
    ]
    assert lines[0]["event_id"] == accepted.json()["id"]
    assert lines[0]["source"] == sources["calendly"]
    assert accepted.headers["X-Request-ID"] == "req-abc-123"
    assert refused.headers["X-Request-ID"]
    assert deliveries.CALENDLY_KEY not in caplog.text
