"""The `t=<unix seconds>,v1=<hex>` signature header that Calendly and Stripe share.

`v1` is hex HMAC-SHA256(key, f"{t}.{raw body}"); the header may carry several `v1`
entries (Stripe signs with each secret during a roll), and other schemes (`v0`, …) are
ignored. The key is the secret's UTF-8 bytes as they are (not base64-decoded).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from verifiers.base import (
    Headers,
    MalformedSignature,
    MissingSignature,
    SignatureMismatch,
    StaleTimestamp,
    VerificationError,
    Verified,
    matches_any,
    single_header,
)

_MAX_TIMESTAMP_DIGITS = 12


def hmac_hex(key: bytes, timestamp: str, body: bytes) -> str:
    return hmac.digest(key, timestamp.encode() + b"." + body, "sha256").hex()


def parse(value: str, header: str, provider: str) -> tuple[str, list[str]]:
    """The header's timestamp and its `v1` signatures (maybe none), or `MalformedSignature`."""
    timestamp: str | None = None
    signatures: list[str] = []
    for part in value.split(","):
        scheme, sep, item = part.strip().partition("=")
        if not sep:
            raise MalformedSignature(
                f"The {header} header is not a list of name=value pairs; "
                f"check that the request comes from {provider} unmodified."
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
        raise MalformedSignature(f"The {header} header has no valid t= timestamp (unix seconds).")
    return timestamp, signatures


def any_matches(
    keys: Sequence[bytes], timestamp: str, signatures: Sequence[str], body: bytes
) -> bool:
    """Whether any `v1` is the body's signature under any key (constant time per pair)."""
    expected = [hmac_hex(key, timestamp, body).encode() for key in keys]
    given = [sig.encode("utf-8", "replace") for sig in signatures]  # lone surrogates too
    return any(matches_any(expected, sig) for sig in given)


def outside_window(timestamp: str, now: datetime, tolerance_seconds: int) -> bool:
    """Whether the signed time is more than the tolerance away from `now`, either way."""
    return abs(now.timestamp() - int(timestamp)) > tolerance_seconds


@dataclass(frozen=True, slots=True)
class Scheme:
    """What one provider's use of the header differs in: its names and its sentences."""

    provider: str
    header: str
    key_name: str
    """What the provider calls the secret (`signing key`, `signing secret`)."""
    key_hint: str
    """Where an operator finds the right secret, for a mismatch's sentence."""
    without_v1: Callable[[], VerificationError]
    """The error of a header with no `v1` at all."""

    def sign(self, body: bytes, secret: str, timestamp: int) -> dict[str, str]:
        """The headers the provider sends for `body` signed with `secret` at `timestamp`."""
        t = str(timestamp)
        return {self.header: f"t={t},v1={hmac_hex(secret.encode(), t, body)}"}


class TimestampedVerifier:
    """Checks deliveries of `scheme`'s provider against the source's secrets (newest first)."""

    def __init__(self, scheme: Scheme, secrets: tuple[str, ...], *, tolerance_seconds: int) -> None:
        self._scheme = scheme
        self._keys = tuple(secret.encode() for secret in secrets)
        self._tolerance = tolerance_seconds

    def __repr__(self) -> str:
        return (
            f"{self._scheme.provider}Verifier(secrets={len(self._keys)}, "
            f"tolerance_seconds={self._tolerance})"
        )

    def verify(self, headers: Headers, body: bytes, *, now: datetime) -> Verified:
        scheme = self._scheme
        value = single_header(headers, scheme.header.lower())
        if value is None:
            raise MissingSignature(f"The {scheme.header} header is missing.")
        timestamp, signatures = parse(value, scheme.header, scheme.provider)
        if not signatures:
            raise scheme.without_v1()
        if not any_matches(self._keys, timestamp, signatures, body):
            raise SignatureMismatch(
                f"The {scheme.provider} signature does not match the body under any "
                f"{scheme.key_name} of this source; {scheme.key_hint}"
            )
        if outside_window(timestamp, now, self._tolerance):
            raise StaleTimestamp(
                f"The {scheme.provider} signature timestamp is more than {self._tolerance} s "
                "away from our clock; a replayed delivery, or a clock that needs syncing."
            )
        return Verified(scheme="hmac-sha256", signed_at=datetime.fromtimestamp(int(timestamp), UTC))
