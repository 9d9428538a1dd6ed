"""Calendly: `Calendly-Webhook-Signature: t=<unix seconds>,v1=<hex>`.

`v1` is hex HMAC-SHA256(signing key, f"{t}.{raw body}"). The header may carry
several `v1` entries; unknown schemes are ignored. Calendly's own sample checks
only past timestamps; we bound both directions (a future `t` is a bad clock or a
forged replay window).
"""

from __future__ import annotations

from verifiers.base import MalformedSignature, VerifierConfig
from verifiers.timestamped import Scheme, TimestampedVerifier

DEFAULT_TOLERANCE_SECONDS = 180
SCHEME = Scheme(
    provider="Calendly",
    header="Calendly-Webhook-Signature",
    key_name="signing key",
    key_hint="check the signing key given to the webhook subscription.",
    without_v1=lambda: MalformedSignature(
        "The Calendly-Webhook-Signature header has no v1= signature."
    ),
)
sign = SCHEME.sign


def build(config: VerifierConfig) -> TimestampedVerifier:
    """The verifier for one Calendly source; `config.secrets` are its signing keys."""
    return TimestampedVerifier(
        SCHEME,
        config.secrets,
        tolerance_seconds=config.tolerance_seconds or DEFAULT_TOLERANCE_SECONDS,
    )
