"""Whatever arrives, a verifier answers `Verified` or raises a `VerificationError`.

Headers use the real names (in lower case, as the gateway's case-insensitive headers
answer) with genuine, mutated, garbage, huge and non-ASCII values; bodies are
arbitrary. `Verified` must come back only for deliveries an independent oracle
confirms were signed with the source's key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable
from datetime import datetime, timedelta

import hypothesis.strategies as st
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import HealthCheck, event, given, settings
from itsdangerous import BadData, URLSafeSerializer

from tests.verifiers.wire import NOW
from verifiers import (
    VerificationError,
    Verified,
    Verifier,
    VerifierConfig,
    calendly,
    ghl,
    google,
    pco,
    stripe,
)

KEY = "property-secret"
TOKEN_KEY = b"t" * 32
SOURCE = "src-prop"
ED = ed25519.Ed25519PrivateKey.generate()
ED_PEM = ED.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
T = int(NOW.timestamp())

PROPERTY = settings(
    max_examples=250,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

AWKWARD = ["\ud800", "\udfff", "\x00", "\xe9", "\u20ac", "\U0001f600", ",", "=", " ", "."]
"""Characters that break naive parsing or encoding, drawn often rather than by luck."""
any_char = st.one_of(st.sampled_from(AWKWARD), st.characters(exclude_categories=()))
any_text = st.lists(any_char, max_size=300).map("".join)
"""Any code points, lone surrogates included (`st.text` would drop those)."""
huge_text = st.builds(lambda char, n: char * n, st.characters(), st.integers(10_000, 200_000))
hex_digest = st.binary(min_size=32, max_size=32).map(bytes.hex)
bodies = st.one_of(
    st.binary(max_size=500),
    st.just(b""),
    any_text.map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.builds(
        lambda stamp: b'{"type":"ContactCreate","timestamp":' + stamp.encode() + b"}",
        st.one_of(
            any_text.map(repr),
            st.integers().map(str),
            st.sampled_from(['"2026-03-01T12:00:00Z"', '"2001-01-01T00:00:00Z"']),
            st.builds(
                '"{}{}"'.format,
                st.datetimes().map(datetime.isoformat),
                st.sampled_from(["", "Z", "+23:59", "-23:59", "+00:00"]),
            ),
        ),
    ),
    st.integers(1, 5000).map(lambda depth: b"[" * depth + b"]" * depth),
)


def mutated(value: str) -> st.SearchStrategy[str]:
    """`value` with a character replaced, dropped, appended or the case changed."""
    edits: list[st.SearchStrategy[str]] = [
        st.just(value.swapcase()),
        st.builds(lambda extra: value + extra, any_text),
    ]
    if value:
        index = st.integers(0, len(value) - 1)
        edits += [
            st.builds(lambda i, c: value[:i] + c + value[i + 1 :], index, any_char),
            st.builds(lambda i: value[:i] + value[i + 1 :], index),
        ]
    return st.one_of(edits)


@st.composite
def deliveries(
    draw: st.DrawFn,
    sign: Callable[[bytes], dict[str, str]],
    extra: dict[str, st.SearchStrategy[str]],
) -> tuple[dict[str, str], bytes]:
    """A body, and the provider's headers, each kept, mutated, dropped or replaced."""
    body = draw(bodies)
    signed_body = body if draw(st.booleans()) else draw(bodies)
    headers: dict[str, str] = {}
    for name, value in sign(signed_body).items():
        fate = draw(st.sampled_from(["keep"] * 7 + ["drop", "mutate", "replace"]))
        if fate == "keep":
            headers[name.lower()] = value
        elif fate == "mutate":
            headers[name.lower()] = draw(mutated(value))
        elif fate == "replace":
            headers[name.lower()] = draw(st.one_of(any_text, huge_text))
    for name, strategy in extra.items():
        if draw(st.booleans()):
            headers[name] = draw(strategy)
    headers |= draw(st.dictionaries(any_text, any_text, max_size=3))
    return headers, body


def outcome(verifier: Verifier, headers: dict[str, str], body: bytes) -> Verified | None:
    try:
        verified = verifier.verify(headers, body, now=NOW)
    except VerificationError as error:
        event(error.code)
        return None
    event("verified")
    return verified


TIMESTAMPED = {"calendly": calendly, "stripe": stripe}
"""Providers signing `t=<unix>,v1=<hex HMAC-SHA256(key, "t.body")>`, by their header."""
TIMESTAMPED_HEADERS = {"calendly": "calendly-webhook-signature", "stripe": "stripe-signature"}


def timestamped_extra(header: str) -> dict[str, st.SearchStrategy[str]]:
    return {
        header: st.builds(
            "t={},v1={}".format, st.integers(-(10**20), 10**20), st.one_of(hex_digest, any_text)
        )
    }


@PROPERTY
@given(data=st.data(), provider=st.sampled_from(sorted(TIMESTAMPED)))
def test_timestamped(data: st.DataObject, provider: str) -> None:
    module, header = TIMESTAMPED[provider], TIMESTAMPED_HEADERS[provider]
    headers, body = data.draw(
        deliveries(lambda body: module.sign(body, KEY, T), timestamped_extra(header))
    )
    if outcome(module.build(VerifierConfig(SOURCE, secrets=(KEY,))), headers, body):
        value = headers[header]
        t = re.search(r"t=\s*(\d+)", value)
        assert t is not None
        digest = hmac.new(KEY.encode(), t[1].encode() + b"." + body, hashlib.sha256).hexdigest()
        assert f"v1={digest}" in re.sub(r"\s", "", value.lower())


@PROPERTY
@given(deliveries(lambda body: pco.sign(body, KEY), {"x-pco-webhooks-authenticity": hex_digest}))
def test_pco(delivery: tuple[dict[str, str], bytes]) -> None:
    headers, body = delivery
    if outcome(pco.build(VerifierConfig(SOURCE, secrets=(KEY,))), headers, body):
        digest = hmac.new(KEY.encode(), body, hashlib.sha256).hexdigest()
        assert headers["x-pco-webhooks-authenticity"].strip().lower() == digest


def signed_by_ed(value: str, body: bytes) -> bool:
    try:
        ED.public_key().verify(base64.b64decode(value.strip(), validate=True), body)
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


ghl_extra = {
    name: st.binary(max_size=600).map(lambda raw: base64.b64encode(raw).decode())
    for name in ("x-ghl-signature", "x-wh-signature")
}


@PROPERTY
@given(deliveries(lambda body: ghl.sign_ed25519(body, ED), ghl_extra))
def test_ghl(delivery: tuple[dict[str, str], bytes]) -> None:
    headers, body = delivery
    config = VerifierConfig(SOURCE, public_keys={"ed25519": (ED_PEM,)})
    if outcome(ghl.build(config), headers, body):
        assert signed_by_ed(headers["x-ghl-signature"], body)


def google_sign(_body: bytes) -> dict[str, str]:
    token = google.mint_channel_token(
        (TOKEN_KEY,), source_id=SOURCE, channel_id="ch-1", expires_at=NOW + timedelta(hours=1)
    )
    return google.notification_headers(
        token,
        channel_id="ch-1",
        resource_id="res-1",
        state="exists",
        message_number=2,
        calendar_id="primary",
    )


google_extra = {"x-goog-resource-state": st.sampled_from(["sync", "exists", "not_exists"])}


@PROPERTY
@given(deliveries(google_sign, google_extra))
def test_google(delivery: tuple[dict[str, str], bytes]) -> None:
    headers, body = delivery
    config = VerifierConfig(SOURCE, channel_token_keys=(TOKEN_KEY,))
    if outcome(google.build(config), headers, body):
        serializer = URLSafeSerializer([TOKEN_KEY], salt=google.SALT)
        try:
            source, channel, expires = serializer.loads(headers["x-goog-channel-token"].strip())
        except BadData:  # pragma: no cover - reached only if a forgery were accepted
            raise AssertionError("a token not signed with our key was accepted") from None
        assert (source, channel) == (SOURCE, headers["x-goog-channel-id"].strip())
        assert expires > NOW.timestamp()
