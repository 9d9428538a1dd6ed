"""`hookgate send PROVIDER EVENT --source ID`: post a correctly signed sample delivery.

For local development: the body comes from `schemas.samples`, the signature is made
the way the provider makes it, with the source's own secret read from the store
(GHL: with a private key you pass, whose public half the gateway is configured
with; Google: a channel token minted with this gateway's keys).
"""

from __future__ import annotations

import argparse
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

import verifiers.calendly
import verifiers.ghl
import verifiers.google
import verifiers.pco
import verifiers.stripe
from gateway.commands import CommandError
from gateway.commands.sources import repository
from gateway.ingress.providers import PROVIDERS
from gateway.settings import Settings
from gateway.store.secretbox import secretbox_from
from schemas.samples import SAMPLE_EVENTS, sample

GOOGLE_STATES = ("exists", "not_exists", "sync")


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    events = "; ".join(
        f"{provider}: {', '.join(names)}"
        for provider, names in {**SAMPLE_EVENTS, "google": GOOGLE_STATES}.items()
    )
    parser = subparsers.add_parser(
        "send",
        help="post a correctly signed sample delivery to a running gateway",
        description=f"Post a signed sample delivery. Events: {events}. PCO events may be "
        "shortened to RESOURCE.ACTION (person.created).",
    )
    parser.add_argument("provider", choices=sorted(PROVIDERS))
    parser.add_argument("event")
    parser.add_argument("--source", required=True, help="the source id to deliver to")
    parser.add_argument("--url", help="the gateway's address (default: HOOKGATE_PUBLIC_URL)")
    parser.add_argument(
        "--private-key",
        type=Path,
        help="GHL only: a PEM Ed25519 (or RSA) private key whose public half the gateway "
        "has in HOOKGATE_GHL_PUBLIC_KEY_ED25519 (or _RSA)",
    )
    parser.set_defaults(run=run)


def _event_name(provider: str, event: str) -> str:
    if provider == "pco" and not event.startswith("people.v2.events."):
        return f"people.v2.events.{event}"
    return event


async def run(args: argparse.Namespace, settings: Settings) -> int:
    now = datetime.now(UTC)
    event = _event_name(args.provider, args.event)
    known = GOOGLE_STATES if args.provider == "google" else SAMPLE_EVENTS[args.provider]
    if event not in known:
        raise CommandError(
            f"no sample {args.event!r} for {args.provider}; try: {', '.join(known)}."
        )
    async with repository(settings) as repo:
        source = await repo.get(args.source)
        if source is None or source.provider != args.provider:
            raise CommandError(f"no {args.provider} source {args.source!r} in the store.")
        found = await repo.secrets(source.id, now=now)
    secret = found.secrets[0] if found and found.secrets else ""
    body = b"" if args.provider == "google" else sample(args.provider, event, now=now)
    headers = {"content-type": "application/json"}
    headers |= _sign(args, settings, event, body, secret=secret, now=now)
    base = (args.url or settings.resolved_public_url).rstrip("/")
    url = f"{base}/webhooks/{args.provider}/{source.id}"
    async with httpx.AsyncClient(timeout=10) as client:
        try:
            response = await client.post(url, content=body, headers=headers)
        except httpx.TransportError as exc:
            raise CommandError(
                f"could not reach {url}: {exc}. Is `hookgate serve` running?"
            ) from None
    print(f"{response.status_code} {response.text}")
    return 0 if response.is_success else 1


def _sign(
    args: argparse.Namespace,
    settings: Settings,
    event: str,
    body: bytes,
    *,
    secret: str,
    now: datetime,
) -> dict[str, str]:
    if args.provider == "calendly":
        return verifiers.calendly.sign(body, secret, int(now.timestamp()))
    if args.provider == "pco":
        return verifiers.pco.sign(body, secret) | {"x-pco-webhooks-name": event}
    if args.provider == "ghl":
        return _sign_ghl(args.private_key, body)
    if args.provider == "stripe":
        return verifiers.stripe.sign(body, secret, int(now.timestamp()))
    channel_id = str(uuid.uuid4())
    token = verifiers.google.mint_channel_token(
        secretbox_from(settings).channel_token_keys,
        source_id=args.source,
        channel_id=channel_id,
        expires_at=now + timedelta(hours=1),
    )
    return verifiers.google.notification_headers(
        token,
        channel_id=channel_id,
        resource_id="hookgate-sample-resource",
        state=event,
        message_number=1 if event == "sync" else 2,
        calendar_id="primary",
    )


def _sign_ghl(path: Path | None, body: bytes) -> dict[str, str]:
    if path is None:
        raise CommandError(
            "GHL signs with its own private key: pass --private-key with a PEM key whose "
            "public half the gateway has in HOOKGATE_GHL_PUBLIC_KEY_ED25519."
        )
    try:
        key = load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise CommandError(f"cannot load the private key in {path}: {exc}") from None
    if isinstance(key, Ed25519PrivateKey):
        return verifiers.ghl.sign_ed25519(body, key)
    if isinstance(key, RSAPrivateKey):
        return verifiers.ghl.sign_rsa(body, key)
    raise CommandError(f"{path} holds neither an Ed25519 nor an RSA private key.")
