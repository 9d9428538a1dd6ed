"""The OAuth `state`: signed, 10 minutes, bound to tenant, provider, redirect and PKCE.

It is an itsdangerous timed signature (the keys that sign Google channel tokens, its
own salt) over a random nonce, the tenant, the provider, where to send the browser
afterwards, and the PKCE verifier encrypted with the secret box (the state passes
through the browser and the provider, the verifier must not). A state is good once:
the callback records its nonce in the store (`oauth_states`) before anything else.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from itsdangerous import BadData, TimestampSigner, URLSafeTimedSerializer

from gateway.store.secretbox import SecretBox, SecretKeyError

SALT = "hookgate.oauth.state"
MAX_AGE_SECONDS = 600
LIFETIME = timedelta(seconds=MAX_AGE_SECONDS)


def timed_serializer(
    keys: Sequence[bytes], salt: str, clock: Callable[[], datetime]
) -> URLSafeTimedSerializer:
    """An itsdangerous timed serializer over `keys` (newest first: it signs with the
    newest, verifies with all) that stamps and ages values by the gateway's clock."""

    class ClockedSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(clock().timestamp())

    # itsdangerous signs with the LAST key and verifies with all.
    return URLSafeTimedSerializer(list(reversed(keys)), salt=salt, signer=ClockedSigner)


def new_verifier() -> str:
    """A PKCE code verifier (RFC 7636 §4.1): 64 unreserved characters."""
    return secrets.token_urlsafe(48)


@dataclass(frozen=True, slots=True)
class OAuthState:
    nonce: str
    tenant: str
    provider: str
    redirect_to: str | None
    verifier: str | None = field(repr=False)


class StateSigner:
    def __init__(
        self, keys: Sequence[bytes], box: SecretBox, clock: Callable[[], datetime]
    ) -> None:
        self._serializer = timed_serializer(keys, SALT, clock)
        self._box = box

    def __repr__(self) -> str:
        return "StateSigner()"

    def sign(
        self, *, tenant: str, provider: str, redirect_to: str | None, verifier: str | None
    ) -> str:
        sealed = self._box.encrypt(verifier).decode() if verifier else ""
        nonce = secrets.token_urlsafe(24)
        return str(self._serializer.dumps([nonce, tenant, provider, redirect_to or "", sealed]))

    def read(self, state: str, provider: str) -> OAuthState | None:
        """The state, or None when it is forged, expired, malformed or another provider's."""
        try:
            payload: object = self._serializer.loads(state, max_age=MAX_AGE_SECONDS)
        except BadData:
            return None
        if not (
            isinstance(payload, list)
            and len(payload) == 5
            and all(isinstance(part, str) for part in payload)
        ):
            return None
        nonce, tenant, signed_provider, redirect_to, sealed = payload
        if signed_provider != provider:
            return None
        try:
            verifier = self._box.decrypt(sealed.encode()) if sealed else None
        except SecretKeyError:
            return None
        return OAuthState(nonce, tenant, provider, redirect_to or None, verifier)
