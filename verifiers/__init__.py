"""One pure verifier per provider, behind the `Verifier` protocol."""

from verifiers.base import (
    ChannelMismatch,
    ExpiredToken,
    Headers,
    InvalidToken,
    MalformedSignature,
    MissingSignature,
    MissingToken,
    SignatureMismatch,
    StaleTimestamp,
    VerificationError,
    Verified,
    Verifier,
    VerifierConfig,
)

__all__ = [
    "ChannelMismatch",
    "ExpiredToken",
    "Headers",
    "InvalidToken",
    "MalformedSignature",
    "MissingSignature",
    "MissingToken",
    "SignatureMismatch",
    "StaleTimestamp",
    "VerificationError",
    "Verified",
    "Verifier",
    "VerifierConfig",
]
