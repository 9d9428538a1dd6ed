"""Stripe: `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…][,v0=<hex>]`.

`v1` is hex HMAC-SHA256(endpoint secret, f"{t}.{raw body}"), the `whsec_…` secret's
bytes used as they are (providers.md §5). Any `v1` may match any of the source's
secrets: Stripe signs with each active secret while one is rolled, and the source keeps
its previous secret for a grace period. `v0` (legacy test mode) is ignored, so a header
with only `v0` does not match. Stripe's SDK refuses only stale timestamps; we bound both
directions, as for Calendly (a future `t` is a bad clock or a forged replay window).
"""

from __future__ import annotations

from datetime import UTC, datetime

from verifiers.base import (
    Headers,
    MissingSignature,
    SignatureMismatch,
    StaleTimestamp,
    Verified,
    VerifierConfig,
    single_header,
)
from verifiers.timestamped import any_matches, hmac_hex, outside_window, parse

HEADER = "stripe-signature"
DEFAULT_TOLERANCE_SECONDS = 300


def sign(body: bytes, secret: str, timestamp: int) -> dict[str, str]:
    """The headers Stripe sends for `body` signed with the endpoint `secret` at `timestamp`."""
    t = str(timestamp)
    return {"Stripe-Signature": f"t={t},v1={hmac_hex(secret.encode(), t, body)}"}


class StripeVerifier:
    """Checks Stripe deliveries against the source's endpoint secrets (newest first)."""

    def __init__(
        self, secrets: tuple[str, ...], *, tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS
    ) -> None:
        self._keys = tuple(secret.encode() for secret in secrets)
        self._tolerance = tolerance_seconds

    def __repr__(self) -> str:
        return f"StripeVerifier(secrets={len(self._keys)}, tolerance_seconds={self._tolerance})"

    def verify(self, headers: Headers, body: bytes, *, now: datetime) -> Verified:
        value = single_header(headers, HEADER)
        if value is None:
            raise MissingSignature("The Stripe-Signature header is missing.")
        timestamp, signatures = parse(value, "Stripe-Signature", "Stripe")
        if not signatures:
            raise SignatureMismatch(
                "The Stripe-Signature header has no v1= signature; only the v1 scheme is "
                "accepted (v0 is Stripe's legacy test-mode scheme)."
            )
        if not any_matches(self._keys, timestamp, signatures, body):
            raise SignatureMismatch(
                "The Stripe signature does not match the body under any signing secret of this "
                "source; check the webhook endpoint's signing secret (whsec_…)."
            )
        if outside_window(timestamp, now, self._tolerance):
            raise StaleTimestamp(
                f"The Stripe signature timestamp is more than {self._tolerance} s away from "
                "our clock; a replayed delivery, or a clock that needs syncing."
            )
        return Verified(scheme="hmac-sha256", signed_at=datetime.fromtimestamp(int(timestamp), UTC))


def build(config: VerifierConfig) -> StripeVerifier:
    """The verifier for one Stripe source; `config.secrets` are its endpoint signing secrets."""
    return StripeVerifier(
        config.secrets, tolerance_seconds=config.tolerance_seconds or DEFAULT_TOLERANCE_SECONDS
    )
