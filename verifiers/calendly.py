"""Calendly: `Calendly-Webhook-Signature: t=<unix seconds>,v1=<hex>`.

`v1` is hex HMAC-SHA256(signing key, f"{t}.{raw body}"). The header may carry
several `v1` entries; unknown schemes are ignored. Calendly's own sample checks
only past timestamps; we bound both directions (a future `t` is a bad clock or a
forged replay window).
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime

from verifiers.base import (
    Headers,
    MalformedSignature,
    MissingSignature,
    SignatureMismatch,
    StaleTimestamp,
    Verified,
    VerifierConfig,
    matches_any,
    single_header,
)

HEADER = "calendly-webhook-signature"
DEFAULT_TOLERANCE_SECONDS = 180
_MAX_TIMESTAMP_DIGITS = 12


def _digest(key: bytes, timestamp: str, body: bytes) -> str:
    return hmac.digest(key, timestamp.encode() + b"." + body, "sha256").hex()


def sign(body: bytes, key: str, timestamp: int) -> dict[str, str]:
    """The headers Calendly sends for `body` signed with `key` at `timestamp`."""
    t = str(timestamp)
    return {"Calendly-Webhook-Signature": f"t={t},v1={_digest(key.encode(), t, body)}"}


def _parse(value: str) -> tuple[str, list[str]]:
    """Split the header into its timestamp and its `v1` signatures."""
    timestamp: str | None = None
    signatures: list[str] = []
    for part in value.split(","):
        scheme, sep, item = part.strip().partition("=")
        if not sep:
            raise MalformedSignature(
                "The Calendly-Webhook-Signature header is not a list of name=value pairs; "
                "check that the request comes from Calendly unmodified."
            )
        if scheme == "t":
            timestamp = item.strip()
        elif scheme == "v1":
            signatures.append(item.strip().lower())
    if (
        timestamp is None
        or not (timestamp.isascii() and timestamp.isdigit())
        or len(timestamp) > _MAX_TIMESTAMP_DIGITS
    ):
        raise MalformedSignature(
            "The Calendly-Webhook-Signature header has no valid t= timestamp (unix seconds)."
        )
    if not signatures:
        raise MalformedSignature("The Calendly-Webhook-Signature header has no v1= signature.")
    return timestamp, signatures


class CalendlyVerifier:
    """Checks Calendly deliveries against the source's signing keys (newest first)."""

    def __init__(
        self, signing_keys: tuple[str, ...], *, tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS
    ) -> None:
        self._keys = tuple(key.encode() for key in signing_keys)
        self._tolerance = tolerance_seconds

    def __repr__(self) -> str:
        return f"CalendlyVerifier(keys={len(self._keys)}, tolerance_seconds={self._tolerance})"

    def verify(self, headers: Headers, body: bytes, *, now: datetime) -> Verified:
        value = single_header(headers, HEADER)
        if value is None:
            raise MissingSignature("The Calendly-Webhook-Signature header is missing.")
        timestamp, signatures = _parse(value)
        expected = [_digest(key, timestamp, body).encode() for key in self._keys]
        given = [sig.encode("utf-8", "replace") for sig in signatures]  # lone surrogates too
        if not any(matches_any(expected, sig) for sig in given):
            raise SignatureMismatch(
                "The Calendly signature does not match the body under any signing key of this "
                "source; check the signing key given to the webhook subscription."
            )
        signed_at = int(timestamp)
        if abs(now.timestamp() - signed_at) > self._tolerance:
            raise StaleTimestamp(
                f"The Calendly signature timestamp is more than {self._tolerance} s away from "
                "our clock; a replayed delivery, or a clock that needs syncing."
            )
        return Verified(scheme="hmac-sha256", signed_at=datetime.fromtimestamp(signed_at, UTC))


def build(config: VerifierConfig) -> CalendlyVerifier:
    """The verifier for one Calendly source; `config.secrets` are its signing keys."""
    return CalendlyVerifier(
        config.secrets, tolerance_seconds=config.tolerance_seconds or DEFAULT_TOLERANCE_SECONDS
    )
