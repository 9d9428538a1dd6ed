"""The verifier contract shared by every provider.

A verifier is a pure function of (headers, raw body, secrets, now): it reads no
clock, does no I/O and touches no global state. It either returns `Verified` or
raises a subclass of `VerificationError`; nothing else escapes it, whatever the
input (a hypothesis test pins this).

    VerificationError                 401, `code` and a one-sentence `detail`
    ├── MissingSignature              missing_signature
    ├── MalformedSignature            malformed_signature
    ├── SignatureMismatch             invalid_signature
    ├── StaleTimestamp                stale_timestamp
    ├── MissingToken                  missing_token
    ├── InvalidToken                  invalid_token
    ├── ExpiredToken                  expired_token
    └── ChannelMismatch               channel_mismatch

Errors never hold the body, the signature or a secret: only a code and a sentence.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar, Protocol

Headers = Mapping[str, str]
"""Request headers; verifiers look names up in lower case (Starlette's are case-insensitive)."""


@dataclass(frozen=True, slots=True)
class Verified:
    """What a successful verification established."""

    scheme: str
    """Which scheme matched, e.g. `hmac-sha256`, `ed25519`, `channel-token`."""
    signed_at: datetime | None = None
    """The provider's signed timestamp, where it signs one."""


class VerificationError(Exception):
    """The delivery could not be shown to come from the provider."""

    code: ClassVar[str] = "verification_failed"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, detail={self.detail!r})"


class MissingSignature(VerificationError):
    """The signature header is absent or empty."""

    code = "missing_signature"


class MalformedSignature(VerificationError):
    """The signature header is present but cannot be parsed."""

    code = "malformed_signature"


class SignatureMismatch(VerificationError):
    """The signature does not match the body under any current secret or key."""

    code = "invalid_signature"


class StaleTimestamp(VerificationError):
    """The signed timestamp lies outside the accepted window (a replay, or a bad clock)."""

    code = "stale_timestamp"


class MissingToken(VerificationError):
    """A channel notification arrived without its channel token."""

    code = "missing_token"


class InvalidToken(VerificationError):
    """The channel token was not signed by this gateway (forged or tampered)."""

    code = "invalid_token"


class ExpiredToken(VerificationError):
    """The channel token is genuine but its channel has expired."""

    code = "expired_token"


class ChannelMismatch(VerificationError):
    """The token is genuine but names another source or channel than the request."""

    code = "channel_mismatch"


class Verifier(Protocol):
    """Checks one delivery for one source."""

    def verify(self, headers: Headers, body: bytes, *, now: datetime) -> Verified:
        """Return what was verified, or raise a `VerificationError`."""
        ...


@dataclass(frozen=True, slots=True)
class VerifierConfig:
    """Everything a provider's verifier may be built from, for one source.

    `secrets` are the source's shared secrets, newest first (several during a
    rotation grace period). `channel_token_keys` are the gateway's own signing keys,
    newest first (Google channel tokens). `public_keys` are PEM public keys by
    scheme name (GHL's published keys, or the operator's overrides).
    `tolerance_seconds` is the operator's timestamp window, where configured.
    """

    source_id: str
    secrets: tuple[str, ...] = ()
    channel_token_keys: tuple[bytes, ...] = ()
    public_keys: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    tolerance_seconds: int | None = None
    """The signed-timestamp window, both ways, for providers that sign one; None: their default."""


def single_header(headers: Headers, name: str) -> str | None:
    """The header's value stripped, or None when absent or blank."""
    value = headers.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def matches_any(expected: Iterable[bytes], given: bytes) -> bool:
    """Constant-time comparison of `given` against each candidate; no early exit."""
    found = False
    for candidate in expected:
        found |= hmac.compare_digest(candidate, given)
    return found
