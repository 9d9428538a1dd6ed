"""Planning Center: `X-PCO-Webhooks-Authenticity` = hex HMAC-SHA256(secret, raw body).

PCO signs no timestamp, so nothing here bounds replay: the gateway relies on the
delivery id for deduplication.
"""

from __future__ import annotations

import hmac
import string
from datetime import datetime

from verifiers.base import (
    Headers,
    MalformedSignature,
    MissingSignature,
    SignatureMismatch,
    Verified,
    VerifierConfig,
    matches_any,
    single_header,
)

HEADER = "x-pco-webhooks-authenticity"
_HEX_DIGITS = frozenset(string.hexdigits)
_DIGEST_HEX_LENGTH = 64


def _digest(secret: bytes, body: bytes) -> str:
    return hmac.digest(secret, body, "sha256").hex()


def sign(body: bytes, secret: str) -> dict[str, str]:
    """The header PCO sends for `body` under the subscription's authenticity secret."""
    return {"X-PCO-Webhooks-Authenticity": _digest(secret.encode(), body)}


class PcoVerifier:
    """Checks PCO deliveries against the source's authenticity secrets (newest first)."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        self._secrets = tuple(secret.encode() for secret in secrets)

    def __repr__(self) -> str:
        return f"PcoVerifier(secrets={len(self._secrets)})"

    def verify(self, headers: Headers, body: bytes, *, now: datetime) -> Verified:
        value = single_header(headers, HEADER)
        if value is None:
            raise MissingSignature("The X-PCO-Webhooks-Authenticity header is missing.")
        if len(value) != _DIGEST_HEX_LENGTH or not _HEX_DIGITS.issuperset(value):
            raise MalformedSignature(
                "The X-PCO-Webhooks-Authenticity header is not a 64-digit hex HMAC-SHA256; "
                "check that the request comes from Planning Center unmodified."
            )
        expected = [_digest(secret, body).encode() for secret in self._secrets]
        if not matches_any(expected, value.lower().encode()):
            raise SignatureMismatch(
                "The Planning Center signature does not match the body under any secret of this "
                "source; check the subscription's authenticity secret."
            )
        return Verified(scheme="hmac-sha256")


def build(config: VerifierConfig) -> PcoVerifier:
    """The verifier for one PCO source; `config.secrets` are its authenticity secrets."""
    return PcoVerifier(config.secrets)
