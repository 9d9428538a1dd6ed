"""Google: no signature; the channel token we sign for events.watch is what we check."""

from __future__ import annotations

import secrets
import string
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from itsdangerous import URLSafeSerializer

from tests.verifiers.wire import NOW, assert_no_leak, received
from verifiers import (
    ChannelMismatch,
    ExpiredToken,
    InvalidToken,
    MalformedSignature,
    MissingToken,
    VerifierConfig,
)
from verifiers.google import (
    MAX_TOKEN_LENGTH,
    SALT,
    GoogleChannelVerifier,
    MalformedNotification,
    build,
    mint_channel_token,
    notification_headers,
)

KEY = b"k" * 32
OLD_KEY = b"o" * 32
SOURCE = "src-google"
CHANNEL = "4ba78bf0-6a47-11e2-bcfd-0800200c9a66"
RESOURCE = "ret08u3rv24htgh289g"
EXPIRES = NOW + timedelta(days=7)


def google(*keys: bytes, source_id: str = SOURCE) -> GoogleChannelVerifier:
    return build(VerifierConfig(source_id=source_id, channel_token_keys=keys))


def token(*keys: bytes, source_id: str = SOURCE, channel_id: str = CHANNEL) -> str:
    return mint_channel_token(
        keys or (KEY,), source_id=source_id, channel_id=channel_id, expires_at=EXPIRES
    )


def notification(token: str, *, state: str = "exists", channel_id: str = CHANNEL) -> dict[str, str]:
    return notification_headers(
        token,
        channel_id=channel_id,
        resource_id=RESOURCE,
        state=state,
        message_number=1 if state == "sync" else 10,
        calendar_id="my_calendar@gmail.com",
    )


@pytest.mark.parametrize("state", ["sync", "exists", "not_exists"])
def test_genuine_notification_is_accepted(state: str) -> None:
    verified = google(KEY).verify(received(notification(token(), state=state)), b"", now=NOW)
    assert verified.scheme == "channel-token"


def test_notification_headers_match_googles_documented_example() -> None:
    """developers.google.com/workspace/calendar/api/guides/push, "Understand the
    notification message format": the example `exists` message."""
    headers = notification_headers(
        "398348u3tu83ut8uu38",
        channel_id=CHANNEL,
        resource_id=RESOURCE,
        state="exists",
        message_number=10,
        calendar_id="my_calendar@gmail.com",
        expires_at=datetime(2013, 11, 19, 1, 13, 52, tzinfo=UTC),
    )
    assert headers["Content-Type"] == "application/json; utf-8"
    assert {k: v for k, v in headers.items() if k.startswith("X-Goog-")} == {
        "X-Goog-Channel-ID": "4ba78bf0-6a47-11e2-bcfd-0800200c9a66",
        "X-Goog-Channel-Token": "398348u3tu83ut8uu38",
        "X-Goog-Channel-Expiration": "Tue, 19 Nov 2013 01:13:52 GMT",
        "X-Goog-Resource-ID": "ret08u3rv24htgh289g",
        "X-Goog-Resource-URI": (
            "https://www.googleapis.com/calendar/v3/calendars/my_calendar@gmail.com/events"
        ),
        "X-Goog-Resource-State": "exists",
        "X-Goog-Message-Number": "10",
    }
    assert headers["User-Agent"].startswith("APIs-Google")


def test_token_fits_googles_limit_with_the_longest_ids() -> None:
    """Google accepts a token of at most 256 chars and a channel id of at most 64."""
    alphabet = string.ascii_letters + string.digits + "-_"
    for _ in range(20):
        longest = mint_channel_token(
            (KEY, OLD_KEY),
            source_id=str(uuid.uuid4()),
            channel_id="".join(secrets.choice(alphabet) for _ in range(64)),
            expires_at=datetime(9999, 1, 1, tzinfo=UTC),
        )
        assert len(longest) <= MAX_TOKEN_LENGTH


def test_minting_refuses_what_google_would_not_take_or_what_cannot_be_signed() -> None:
    with pytest.raises(ValueError, match="256"):
        mint_channel_token(
            (KEY,), source_id=SOURCE, channel_id=secrets.token_hex(200), expires_at=EXPIRES
        )
    with pytest.raises(ValueError, match="HOOKGATE_SECRET_KEYS"):
        mint_channel_token((), source_id=SOURCE, channel_id=CHANNEL, expires_at=EXPIRES)


@pytest.mark.parametrize("value", [None, "", "   "])
def test_missing_token(value: str | None) -> None:
    headers = notification("x")
    if value is None:
        del headers["X-Goog-Channel-Token"]
    else:
        headers["X-Goog-Channel-Token"] = value
    with pytest.raises(MissingToken) as caught:
        google(KEY).verify(received(headers), b"", now=NOW)
    assert caught.value.code == "missing_token"


def forged_tokens() -> list[str]:
    genuine = token()
    payload, signature = genuine.rsplit(".", 1)
    other_salt = URLSafeSerializer([KEY], salt="another.purpose").dumps([SOURCE, CHANNEL, 2**40])
    return [
        token(b"not-our-key" * 3),
        f"{payload[:-1]}{'A' if payload[-1] != 'A' else 'B'}.{signature}",
        f"{payload}.{signature[::-1]}",
        genuine.replace(".", ""),
        "garbage",
        other_salt,
        "é" * 300,
    ]


@pytest.mark.parametrize("forged", forged_tokens())
def test_forged_or_tampered_token_is_invalid(forged: str) -> None:
    headers = notification(token()) | {"X-Goog-Channel-Token": forged}
    with pytest.raises(InvalidToken) as caught:
        google(KEY).verify(received(headers), b"", now=NOW)
    assert caught.value.code == "invalid_token"
    assert_no_leak(caught.value, forged)


@pytest.mark.parametrize(
    "payload", [{"source": SOURCE}, [SOURCE, CHANNEL], [SOURCE, CHANNEL, True]]
)
def test_signed_token_of_another_shape_is_invalid(payload: object) -> None:
    signed = URLSafeSerializer([KEY], salt=SALT).dumps(payload)
    with pytest.raises(InvalidToken):
        google(KEY).verify(received(notification(signed)), b"", now=NOW)


def test_token_of_another_source_is_a_channel_mismatch() -> None:
    headers = notification(token(source_id="src-other"))
    with pytest.raises(ChannelMismatch) as caught:
        google(KEY).verify(received(headers), b"", now=NOW)
    assert caught.value.code == "channel_mismatch"


def test_token_of_another_channel_is_a_channel_mismatch() -> None:
    headers = notification(token(channel_id="channel-a"), channel_id="channel-b")
    with pytest.raises(ChannelMismatch):
        google(KEY).verify(received(headers), b"", now=NOW)


@pytest.mark.parametrize("after", [timedelta(0), timedelta(seconds=1), timedelta(days=400)])
def test_expired_token(after: timedelta) -> None:
    with pytest.raises(ExpiredToken) as caught:
        google(KEY).verify(received(notification(token())), b"", now=EXPIRES + after)
    assert caught.value.code == "expired_token"


def test_token_is_valid_until_its_expiry() -> None:
    before = EXPIRES - timedelta(seconds=1)
    assert google(KEY).verify(received(notification(token())), b"", now=before)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X-Goog-Channel-ID", None),
        ("X-Goog-Resource-ID", None),
        ("X-Goog-Resource-State", None),
        ("X-Goog-Resource-State", "deleted"),
        ("X-Goog-Resource-State", "EXISTS"),
    ],
)
def test_malformed_notification(name: str, value: str | None) -> None:
    headers = notification(token())
    headers[name] = value or ""
    with pytest.raises(MalformedNotification) as caught:
        google(KEY).verify(received(headers), b"", now=NOW)
    assert isinstance(caught.value, MalformedSignature)
    assert caught.value.code == "malformed_signature"
    assert name in caught.value.detail


def test_rotation_signs_with_the_newest_key_and_accepts_the_older() -> None:
    """Keys are newest first; itsdangerous wants its signing key last."""
    minted_after_rotation = token(KEY, OLD_KEY)
    assert google(KEY).verify(received(notification(minted_after_rotation)), b"", now=NOW)
    with pytest.raises(InvalidToken):
        google(OLD_KEY).verify(received(notification(minted_after_rotation)), b"", now=NOW)
    minted_before_rotation = token(OLD_KEY)
    assert google(KEY, OLD_KEY).verify(received(notification(minted_before_rotation)), b"", now=NOW)


def test_source_without_keys_rejects_every_token() -> None:
    with pytest.raises(InvalidToken, match="HOOKGATE_SECRET_KEYS"):
        google().verify(received(notification(token())), b"", now=NOW)
