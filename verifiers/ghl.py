"""GoHighLevel / LeadConnector: public-key signatures over the raw body.

`x-ghl-signature` (Ed25519, current) wins whenever present, with no fallback, as in
GHL's SDKs; otherwise `x-wh-signature` (RSA PKCS#1 v1.5 + SHA-256, legacy). Both are
base64 and checked against GHL's published keys (or the operator's overrides).

Replay: GHL signs no timestamp header and its signatures carry no time, so a
captured delivery verifies for ever; only the payload's top-level `timestamp` (ISO
8601, inside the signed body, so it cannot be altered) bounds a replay. After the
signature verifies, a body that is a JSON object must carry that `timestamp` as an
ISO 8601 string within the window, both ways; a missing one, or a number (GHL
documents it only as an ISO 8601 string), is refused as `stale_timestamp`. A body
that is not a JSON object passes here: it is no GHL event, and normalization answers
400 for it.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from datetime import UTC, datetime

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from verifiers.base import (
    Headers,
    MalformedSignature,
    MissingSignature,
    SignatureMismatch,
    StaleTimestamp,
    Verified,
    VerifierConfig,
    single_header,
)

GHL_RSA_PUBLIC_KEY = """-----BEGIN PUBLIC KEY-----
MIICIjANBgkqhkiG9w0BAQEFAAOCAg8AMIICCgKCAgEAokvo/r9tVgcfZ5DysOSC
Frm602qYV0MaAiNnX9O8KxMbiyRKWeL9JpCpVpt4XHIcBOK4u3cLSqJGOLaPuXw6
dO0t6Q/ZVdAV5Phz+ZtzPL16iCGeK9po6D6JHBpbi989mmzMryUnQJezlYJ3DVfB
csedpinheNnyYeFXolrJvcsjDtfAeRx5ByHQmTnSdFUzuAnC9/GepgLT9SM4nCpv
uxmZMxrJt5Rw+VUaQ9B8JSvbMPpez4peKaJPZHBbU3OdeCVx5klVXXZQGNHOs8gF
3kvoV5rTnXV0IknLBXlcKKAQLZcY/Q9rG6Ifi9c+5vqlvHPCUJFT5XUGG5RKgOKU
J062fRtN+rLYZUV+BjafxQauvC8wSWeYja63VSUruvmNj8xkx2zE/Juc+yjLjTXp
IocmaiFeAO6fUtNjDeFVkhf5LNb59vECyrHD2SQIrhgXpO4Q3dVNA5rw576PwTzN
h/AMfHKIjE4xQA1SZuYJmNnmVZLIZBlQAF9Ntd03rfadZ+yDiOXCCs9FkHibELhC
HULgCsnuDJHcrGNd5/Ddm5hxGQ0ASitgHeMZ0kcIOwKDOzOU53lDza6/Y09T7sYJ
PQe7z0cvj7aE4B+Ax1ZoZGPzpJlZtGXCsu9aTEGEnKzmsFqwcSsnw3JB31IGKAyk
T1hhTiaCeIY/OwwwNUY2yvcCAwEAAQ==
-----END PUBLIC KEY-----
"""
"""GHL's published `x-wh-signature` key (RSA-4096), from GoHighLevel/highlevel-api-docs
`docs/oauth/WebhookAuthentication.md`."""

GHL_ED25519_PUBLIC_KEY = """-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAi2HR1srL4o18O8BRa7gVJY7G7bupbN3H9AwJrHCDiOg=
-----END PUBLIC KEY-----
"""
"""GHL's published `x-ghl-signature` key (Ed25519), from the Webhook Integration Guide."""

ED25519_HEADER = "x-ghl-signature"
RSA_HEADER = "x-wh-signature"
DEFAULT_TOLERANCE_SECONDS = 300
_ED25519_SIGNATURE_BYTES = 64


def sign_ed25519(body: bytes, private_key: Ed25519PrivateKey) -> dict[str, str]:
    """The header GHL sends for `body` under its current (Ed25519) scheme."""
    return {ED25519_HEADER: base64.b64encode(private_key.sign(body)).decode()}


def sign_rsa(body: bytes, private_key: RSAPrivateKey) -> dict[str, str]:
    """The header GHL sends for `body` under its legacy (RSA-SHA256) scheme."""
    signature = private_key.sign(body, padding.PKCS1v15(), hashes.SHA256())
    return {RSA_HEADER: base64.b64encode(signature).decode()}


def _decode(value: str, header: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:  # binascii.Error, or a non-ASCII value
        raise MalformedSignature(f"The {header} header is not base64.") from None


def _payload_timestamp(body: bytes) -> datetime | None:
    """The payload's top-level `timestamp`; None where the body is not a JSON object.

    Raises `StaleTimestamp` for an object without a readable ISO 8601 `timestamp`.
    """
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(payload, dict):
        return None
    stamp = payload.get("timestamp")
    if not isinstance(stamp, str):
        raise StaleTimestamp(
            "The GHL payload has no `timestamp` string, so its age cannot be checked; "
            "GHL puts an ISO 8601 one in every delivery."
        )
    try:
        parsed = datetime.fromisoformat(stamp)
        parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        parsed.timestamp()  # out-of-range offsets surface here, not later
    except (ValueError, OverflowError):
        raise StaleTimestamp(
            "The GHL payload `timestamp` is not an ISO 8601 time, so its age cannot be checked."
        ) from None
    return parsed


class GhlVerifier:
    """Checks GHL deliveries against GHL's public keys (several allowed, for rotation)."""

    def __init__(
        self,
        ed25519_keys: Iterable[Ed25519PublicKey],
        rsa_keys: Iterable[RSAPublicKey],
        *,
        tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    ) -> None:
        self._ed25519 = tuple(ed25519_keys)
        self._rsa = tuple(rsa_keys)
        self._tolerance = tolerance_seconds

    def __repr__(self) -> str:
        return (
            f"GhlVerifier(ed25519_keys={len(self._ed25519)}, rsa_keys={len(self._rsa)}, "
            f"tolerance_seconds={self._tolerance})"
        )

    def verify(self, headers: Headers, body: bytes, *, now: datetime) -> Verified:
        if (value := single_header(headers, ED25519_HEADER)) is not None:
            scheme = "ed25519"
            self._verify_ed25519(_decode(value, ED25519_HEADER), body)
        elif (value := single_header(headers, RSA_HEADER)) is not None:
            scheme = "rsa-sha256"
            self._verify_rsa(_decode(value, RSA_HEADER), body)
        else:
            raise MissingSignature(
                "Neither the x-ghl-signature nor the x-wh-signature header is present."
            )
        signed_at = _payload_timestamp(body)
        if signed_at is not None and abs(now.timestamp() - signed_at.timestamp()) > self._tolerance:
            raise StaleTimestamp(
                f"The GHL payload timestamp is more than {self._tolerance} s away from our clock; "
                "a replayed delivery, or a clock that needs syncing."
            )
        return Verified(scheme=scheme, signed_at=signed_at)

    def _verify_ed25519(self, signature: bytes, body: bytes) -> None:
        if len(signature) != _ED25519_SIGNATURE_BYTES:
            raise MalformedSignature(
                "The x-ghl-signature header is not a 64-byte Ed25519 signature."
            )
        for key in self._ed25519:
            try:
                key.verify(signature, body)
            except InvalidSignature:
                continue
            return
        raise SignatureMismatch(
            "The x-ghl-signature does not match the body under GHL's Ed25519 public keys; "
            "check HOOKGATE_GHL_PUBLIC_KEY_ED25519 if GHL rotated its key."
        )

    def _verify_rsa(self, signature: bytes, body: bytes) -> None:
        for key in self._rsa:
            try:
                key.verify(signature, body, padding.PKCS1v15(), hashes.SHA256())
            except InvalidSignature:
                continue
            return
        raise SignatureMismatch(
            "The x-wh-signature does not match the body under GHL's RSA public keys; "
            "check HOOKGATE_GHL_PUBLIC_KEY_RSA if GHL rotated its key."
        )


def _load_pems(config: VerifierConfig, scheme: str) -> list[PublicKeyTypes]:
    return [
        serialization.load_pem_public_key(pem.encode())
        for pem in config.public_keys.get(scheme, ())
    ]


def build(config: VerifierConfig) -> GhlVerifier:
    """The verifier for one GHL source; loads `config.public_keys["ed25519"|"rsa"]` (PEM) once.

    Raises ValueError when a configured key is not a PEM public key of its scheme.
    """
    ed25519_pems, rsa_pems = _load_pems(config, "ed25519"), _load_pems(config, "rsa")
    ed25519 = [key for key in ed25519_pems if isinstance(key, Ed25519PublicKey)]
    rsa = [key for key in rsa_pems if isinstance(key, RSAPublicKey)]
    if len(ed25519) != len(ed25519_pems) or len(rsa) != len(rsa_pems):
        raise ValueError("a GHL public key is configured under the wrong scheme (ed25519 or rsa)")
    return GhlVerifier(
        ed25519, rsa, tolerance_seconds=config.tolerance_seconds or DEFAULT_TOLERANCE_SECONDS
    )
