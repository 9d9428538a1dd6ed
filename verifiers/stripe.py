"""Stripe: `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…][,v0=<hex>]`.

`v1` is hex HMAC-SHA256(endpoint secret, f"{t}.{raw body}"), the `whsec_…` secret's
bytes used as they are (providers.md §5). Any `v1` may match any of the source's
secrets: Stripe signs with each active secret while one is rolled, and the source keeps
its previous secret for a grace period. `v0` (legacy test mode) is ignored, so a header
with only `v0` does not match. Stripe's SDK refuses only stale timestamps; we bound both
directions, as for Calendly (a future `t` is a bad clock or a forged replay window).
"""

from __future__ import annotations

from verifiers.base import SignatureMismatch, VerifierConfig
from verifiers.timestamped import Scheme, TimestampedVerifier

DEFAULT_TOLERANCE_SECONDS = 300
SCHEME = Scheme(
    provider="Stripe",
    header="Stripe-Signature",
    key_name="signing secret",
    key_hint="check the webhook endpoint's signing secret (whsec_…).",
    without_v1=lambda: SignatureMismatch(
        "The Stripe-Signature header has no v1= signature; only the v1 scheme is "
        "accepted (v0 is Stripe's legacy test-mode scheme)."
    ),
)
sign = SCHEME.sign


def build(config: VerifierConfig) -> TimestampedVerifier:
    """The verifier for one Stripe source; `config.secrets` are its endpoint signing secrets."""
    return TimestampedVerifier(
        SCHEME,
        config.secrets,
        tolerance_seconds=config.tolerance_seconds or DEFAULT_TOLERANCE_SECONDS,
    )
