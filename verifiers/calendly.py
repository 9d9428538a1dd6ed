"""Calendly: `Calendly-Webhook-Signature: t=<unix seconds>,v1=<hex>`.

`v1` is hex HMAC-SHA256(signing key, f"{t}.{raw body}"). The header may carry
several `v1` entries; unknown schemes are ignored. Calendly's own sample checks
only past timestamps; we bound both directions (a future `t` is a bad clock or a
forged replay window).
"""

from __future__ import annotations

from datetime import UTC, datetime

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
from verifiers.timestamped import any_matches, hmac_hex, outside_window, parse

HEADER = "calendly-webhook-signature"
DEFAULT_TOLERANCE_SECONDS = 180


def sign(body: bytes, key: str, timestamp: int) -> dict[str, str]:
    """The headers Calendly sends for `body` signed with `key` at `timestamp`."""
    t = str(timestamp)
    return {"Calendly-Webhook-Signature": f"t={t},v1={hmac_hex(key.encode(), t, body)}"}


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
        timestamp, signatures = parse(value, "Calendly-Webhook-Signature", "Calendly")
        if not signatures:
            raise MalformedSignature("The Calendly-Webhook-Signature header has no v1= signature.")
        if not any_matches(self._keys, timestamp, signatures, body):
            raise SignatureMismatch(
                "The Calendly signature does not match the body under any signing key of this "
                "source; check the signing key given to the webhook subscription."
            )
        if outside_window(timestamp, now, self._tolerance):
            raise StaleTimestamp(
                f"The Calendly signature timestamp is more than {self._tolerance} s away from "
                "our clock; a replayed delivery, or a clock that needs syncing."
            )
        return Verified(scheme="hmac-sha256", signed_at=datetime.fromtimestamp(int(timestamp), UTC))


def build(config: VerifierConfig) -> CalendlyVerifier:
    """The verifier for one Calendly source; `config.secrets` are its signing keys."""
    return CalendlyVerifier(
        config.secrets, tolerance_seconds=config.tolerance_seconds or DEFAULT_TOLERANCE_SECONDS
    )
