"""Calendly: `Calendly-Webhook-Signature: t=<unix>,v1=<hex HMAC-SHA256(key, "t.body")>`."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.verifiers.wire import NOW, assert_no_leak, received
from verifiers import (
    MalformedSignature,
    MissingSignature,
    SignatureMismatch,
    StaleTimestamp,
    VerifierConfig,
)
from verifiers.calendly import build, sign

KEY = "calendly-test-signing-key"
OLD_KEY = "calendly-previous-signing-key"
BODY = b'{"event":"invitee.created","payload":{"email":"ada@example.com"}}'
T = int(NOW.timestamp())


def test_genuine_delivery_is_accepted() -> None:
    verified = build(VerifierConfig("src-cal", secrets=(KEY,))).verify(
        received(sign(BODY, KEY, T)), BODY, now=NOW
    )
    assert verified.scheme == "hmac-sha256"
    assert verified.signed_at == datetime.fromtimestamp(T, UTC)


def test_known_answer_computed_independently() -> None:
    """No vector with its key is published (providers.md §8.6), so this one was made with
    `printf '%s' '1700000000.<BODY>' | openssl dgst -sha256 -hmac 'calendly-test-signing-key'`,
    following Calendly's documented signed string `t + "." + raw body`."""
    expected = "795fd125df3583aa9c6c0e3f335a0dee9203165e0d817542694dbb4e20cd9d18"
    headers = sign(BODY, KEY, 1_700_000_000)
    assert headers == {"Calendly-Webhook-Signature": f"t=1700000000,v1={expected}"}
    now = datetime.fromtimestamp(1_700_000_000, UTC)
    assert build(VerifierConfig("s", secrets=(KEY,))).verify(received(headers), BODY, now=now)


def test_any_v1_entry_may_match_and_unknown_schemes_are_ignored() -> None:
    digest = sign(BODY, KEY, T)["Calendly-Webhook-Signature"].split("v1=")[1]
    value = f"t={T}, v0=deadbeef, v1={'0' * 64}, v1={digest.upper()}, v9=x"
    verifier = build(VerifierConfig("s", secrets=(KEY,)))
    assert verifier.verify(received({"Calendly-Webhook-Signature": value}), BODY, now=NOW)


def test_tampered_body_is_a_signature_mismatch() -> None:
    verifier = build(VerifierConfig("s", secrets=(KEY,)))
    headers = sign(BODY, KEY, T)
    with pytest.raises(SignatureMismatch) as caught:
        verifier.verify(received(headers), BODY.replace(b"ada", b"eve"), now=NOW)
    assert caught.value.code == "invalid_signature"
    assert_no_leak(caught.value, KEY, headers["Calendly-Webhook-Signature"], BODY.decode())


def test_wrong_key_is_a_signature_mismatch() -> None:
    verifier = build(VerifierConfig("s", secrets=(KEY,)))
    with pytest.raises(SignatureMismatch):
        verifier.verify(received(sign(BODY, "another-key", T)), BODY, now=NOW)


def test_source_without_key_rejects_everything() -> None:
    verifier = build(VerifierConfig("s"))
    with pytest.raises(SignatureMismatch):
        verifier.verify(received(sign(BODY, "", T)), BODY, now=NOW)


@pytest.mark.parametrize("headers", [{}, {"Calendly-Webhook-Signature": "  "}])
def test_missing_header(headers: dict[str, str]) -> None:
    verifier = build(VerifierConfig("s", secrets=(KEY,)))
    with pytest.raises(MissingSignature) as caught:
        verifier.verify(received(headers), BODY, now=NOW)
    assert caught.value.code == "missing_signature"


@pytest.mark.parametrize(
    "value",
    [
        "garbage",
        f"v1={'a' * 64}",
        f"t=,v1={'a' * 64}",
        f"t=12.5,v1={'a' * 64}",
        f"t=-5,v1={'a' * 64}",
        f"t=1{'0' * 40},v1={'a' * 64}",
        f"t={T}",
        f"t={T},v0={'a' * 64}",
        f"t={T},,v1={'a' * 64}",
    ],
)
def test_malformed_header(value: str) -> None:
    verifier = build(VerifierConfig("s", secrets=(KEY,)))
    with pytest.raises(MalformedSignature) as caught:
        verifier.verify(received({"Calendly-Webhook-Signature": value}), BODY, now=NOW)
    assert caught.value.code == "malformed_signature"


@pytest.mark.parametrize("offset", [-181, 181, -(10**9)])
def test_timestamp_outside_tolerance_is_stale_both_ways(offset: int) -> None:
    verifier = build(VerifierConfig("s", secrets=(KEY,)))
    with pytest.raises(StaleTimestamp) as caught:
        verifier.verify(received(sign(BODY, KEY, T + offset)), BODY, now=NOW)
    assert caught.value.code == "stale_timestamp"


@pytest.mark.parametrize("offset", [-180, 180])
def test_timestamp_at_the_tolerance_edge_is_accepted(offset: int) -> None:
    verifier = build(VerifierConfig("s", secrets=(KEY,)))
    assert verifier.verify(received(sign(BODY, KEY, T + offset)), BODY, now=NOW)


def test_tolerance_is_configurable() -> None:
    verifier = build(VerifierConfig("s", secrets=(KEY,), tolerance_seconds=600))
    assert verifier.verify(received(sign(BODY, KEY, T - 500)), BODY, now=NOW)


def test_stale_is_checked_only_after_the_signature() -> None:
    """A forged old delivery learns nothing about the clock window."""
    verifier = build(VerifierConfig("s", secrets=(KEY,)))
    with pytest.raises(SignatureMismatch):
        verifier.verify(received(sign(BODY, "forged", T - 3600)), BODY, now=NOW)


def test_rotation_accepts_old_and_new_keys_until_the_old_is_dropped() -> None:
    during = build(VerifierConfig("s", secrets=(KEY, OLD_KEY)))
    for key in (KEY, OLD_KEY):
        assert during.verify(received(sign(BODY, key, T)), BODY, now=NOW)
    after = build(VerifierConfig("s", secrets=(KEY,)))
    with pytest.raises(SignatureMismatch):
        after.verify(received(sign(BODY, OLD_KEY, T)), BODY, now=NOW)


def test_repr_names_no_key() -> None:
    verifier = build(VerifierConfig("s", secrets=(KEY, OLD_KEY)))
    assert KEY not in repr(verifier)
    assert OLD_KEY not in repr(verifier)


@pytest.mark.parametrize("signature", ["\ud800", "\xe9" * 64, "\U0001f600"])
def test_non_ascii_signature_is_a_mismatch_not_a_crash(signature: str) -> None:
    verifier = build(VerifierConfig("s", secrets=(KEY,)))
    with pytest.raises(SignatureMismatch):
        verifier.verify({"calendly-webhook-signature": f"t={T},v1={signature}"}, BODY, now=NOW)
