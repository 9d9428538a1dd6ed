"""Google Calendar push notifications: no signature, so we sign the channel token.

The token handed to `events.watch` is an itsdangerous signature over (source id,
channel id, expiry), made with the gateway's own keys. Google echoes it in
`X-Goog-Channel-Token`, so a notification is refused when forged, tampered, replayed
onto another source or channel, or late, without a database round trip.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import quote

from itsdangerous import BadData, URLSafeSerializer

from verifiers.base import (
    ChannelMismatch,
    ExpiredToken,
    Headers,
    InvalidToken,
    MalformedSignature,
    MissingToken,
    Verified,
    VerifierConfig,
    single_header,
)

SALT = "hookgate.google.channel"
MAX_TOKEN_LENGTH = 256
"""Google's limit on a channel token."""
RESOURCE_STATES = frozenset({"sync", "exists", "not_exists"})
USER_AGENT = "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)"


class MalformedNotification(MalformedSignature):
    """A required `X-Goog-*` notification header is absent or has an unknown value."""


def _serializer(keys: Sequence[bytes]) -> URLSafeSerializer:
    # `keys` are newest first; itsdangerous signs with the LAST key and verifies with all.
    return URLSafeSerializer(list(reversed(keys)), salt=SALT)


def mint_channel_token(
    keys: Sequence[bytes], *, source_id: str, channel_id: str, expires_at: datetime
) -> str:
    """The token to hand to `events.watch`, signed with the newest key.

    Raises ValueError without keys, or when the ids make it longer than Google accepts.
    """
    if not keys:
        raise ValueError("no channel-token key is configured (HOOKGATE_SECRET_KEYS)")
    token = _serializer(keys).dumps([source_id, channel_id, int(expires_at.timestamp())])
    if len(token) > MAX_TOKEN_LENGTH:
        raise ValueError(f"the channel token is longer than Google's {MAX_TOKEN_LENGTH} chars")
    return token


def notification_headers(
    token: str,
    *,
    channel_id: str,
    resource_id: str,
    state: str,
    message_number: int,
    calendar_id: str,
    expires_at: datetime | None = None,
) -> dict[str, str]:
    """The headers of an events-collection notification, as Google's push guide shows them."""
    uri = f"https://www.googleapis.com/calendar/v3/calendars/{quote(calendar_id, safe='@')}/events"
    headers = {
        "Content-Type": "application/json; utf-8",
        "User-Agent": USER_AGENT,
        "X-Goog-Channel-ID": channel_id,
        "X-Goog-Channel-Token": token,
        "X-Goog-Resource-ID": resource_id,
        "X-Goog-Resource-URI": uri,
        "X-Goog-Resource-State": state,
        "X-Goog-Message-Number": str(message_number),
    }
    if expires_at is not None:
        headers["X-Goog-Channel-Expiration"] = format_datetime(
            expires_at.astimezone(UTC), usegmt=True
        )
    return headers


def _required(headers: Headers, name: str, display: str) -> str:
    value = single_header(headers, name)
    if value is None:
        raise MalformedNotification(f"The {display} header is missing from the notification.")
    return value


class GoogleChannelVerifier:
    """Checks notifications for one Google source against the gateway's token keys."""

    def __init__(self, source_id: str, keys: Sequence[bytes]) -> None:
        self._source_id = source_id
        self._serializer = _serializer(keys) if keys else None

    def __repr__(self) -> str:
        return f"GoogleChannelVerifier(source_id={self._source_id!r})"

    def verify(self, headers: Headers, body: bytes, *, now: datetime) -> Verified:
        token = single_header(headers, "x-goog-channel-token")
        if token is None:
            raise MissingToken(
                "The X-Goog-Channel-Token header is missing; channels must be opened by hookgate."
            )
        source_id, channel_id, expires = self._load(token)
        header_channel = _required(headers, "x-goog-channel-id", "X-Goog-Channel-ID")
        _required(headers, "x-goog-resource-id", "X-Goog-Resource-ID")
        state = _required(headers, "x-goog-resource-state", "X-Goog-Resource-State")
        if state not in RESOURCE_STATES:
            raise MalformedNotification(
                "The X-Goog-Resource-State header is not one of sync, exists or not_exists."
            )
        if source_id != self._source_id or channel_id != header_channel:
            raise ChannelMismatch(
                "The channel token was issued for another source or channel than this request; "
                "check the notification URL the channel was opened with."
            )
        if expires <= now.timestamp():
            raise ExpiredToken(
                "The channel token has expired; the channel should have been renewed before then."
            )
        return Verified(scheme="channel-token")

    def _load(self, token: str) -> tuple[str, str, int]:
        if self._serializer is None:
            raise InvalidToken(
                "No channel-token key is configured, so no token can be checked; "
                "set HOOKGATE_SECRET_KEYS."
            )
        try:
            payload: object = self._serializer.loads(token)
        except (BadData, ValueError):
            raise InvalidToken(
                "The channel token was not signed by this gateway's keys; "
                "check HOOKGATE_SECRET_KEYS still holds the key that opened the channel."
            ) from None
        match payload:
            case [str(source_id), str(channel_id), int(expires)] if not isinstance(expires, bool):
                return source_id, channel_id, expires
        raise InvalidToken(
            "The channel token is signed but does not hold a source, channel, expiry."
        )


def build(config: VerifierConfig) -> GoogleChannelVerifier:
    """The verifier for one Google source; `config.channel_token_keys` are newest first."""
    return GoogleChannelVerifier(config.source_id, config.channel_token_keys)
