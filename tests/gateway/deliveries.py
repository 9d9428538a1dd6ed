"""Genuine deliveries for each provider, signed the way the provider signs them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import verifiers.calendly
import verifiers.ghl
import verifiers.google
import verifiers.pco
import verifiers.stripe
from gateway.store.secretbox import SecretBox
from schemas import samples
from tests.fixtures.gateway import SECRET_KEYS

CALENDLY_KEY = "calendly-signing-key-for-tests"
PCO_SECRET = "pco-authenticity-secret-for-tests"
STRIPE_SECRET = "whsec_stripe-endpoint-secret-for-tests"


@dataclass(frozen=True)
class Signed:
    headers: dict[str, str]
    body: bytes


def calendly(now: datetime, *, body: bytes | None = None, key: str = CALENDLY_KEY) -> Signed:
    body = body if body is not None else samples.sample("calendly", "invitee.created", now=now)
    return Signed(verifiers.calendly.sign(body, key, int(now.timestamp())), body)


def pco(now: datetime, *, body: bytes | None = None, secret: str = PCO_SECRET) -> Signed:
    body = body if body is not None else samples.sample("pco", "person.created", now=now)
    return Signed(verifiers.pco.sign(body, secret), body)


def stripe(now: datetime, *, body: bytes | None = None, secret: str = STRIPE_SECRET) -> Signed:
    body = (
        body
        if body is not None
        else samples.sample("stripe", "checkout.session.completed", now=now)
    )
    return Signed(verifiers.stripe.sign(body, secret, int(now.timestamp())), body)


def ghl(now: datetime, key: Ed25519PrivateKey, *, body: bytes | None = None) -> Signed:
    body = body if body is not None else samples.sample("ghl", "ContactCreate", now=now)
    return Signed(verifiers.ghl.sign_ed25519(body, key), body)


def google(
    now: datetime,
    source_id: str,
    *,
    state: str = "exists",
    channel_id: str | None = None,
    expires_at: datetime | None = None,
    keys: tuple[bytes, ...] | None = None,
    message_number: int = 7,
) -> Signed:
    channel = channel_id or str(uuid.uuid4())
    token = verifiers.google.mint_channel_token(
        keys or SecretBox(SECRET_KEYS).channel_token_keys,
        source_id=source_id,
        channel_id=channel,
        expires_at=expires_at or now + timedelta(hours=1),
    )
    headers = verifiers.google.notification_headers(
        token,
        channel_id=channel,
        resource_id="ret08u3rv24htgh289g",
        state=state,
        message_number=message_number,
        calendar_id="team@example.com",
    )
    return Signed(headers, b"")
