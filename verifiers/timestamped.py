"""The `t=<unix seconds>,v1=<hex>` signature header that Calendly and Stripe share.

`v1` is hex HMAC-SHA256(key, f"{t}.{raw body}"); the header may carry several `v1`
entries (Stripe signs with each secret during a roll), and other schemes (`v0`, …) are
ignored. The key is the secret's UTF-8 bytes as they are (not base64-decoded).
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from datetime import datetime

from verifiers.base import MalformedSignature, matches_any

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
