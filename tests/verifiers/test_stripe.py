"""Stripe: `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(whsec, "t.body")>`, cross-checked
against Stripe's own library (`stripe.Webhook.construct_event`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
import stripe
import stripe._webhook

from tests.verifiers.wire import NOW, assert_no_leak, received
from verifiers import (
    MalformedSignature,
    MissingSignature,
    SignatureMismatch,
    StaleTimestamp,
    VerificationError,
    VerifierConfig,
)
from verifiers.stripe import build, sign

SECRET = "whsec_test_hookgate_current"
OLD_SECRET = "whsec_test_hookgate_previous"
BODY = b'{"id":"evt_1","object":"event","type":"charge.refunded","data":{"object":{"id":"ch_1"}}}'
T = int(NOW.timestamp())


def _v1(secret: str, timestamp: int = T) -> str:
    return sign(BODY, secret, timestamp)["Stripe-Signature"].split("v1=")[1]


def test_genuine_delivery_is_accepted() -> None:
    verified = build(VerifierConfig("src-stripe", secrets=(SECRET,))).verify(
        received(sign(BODY, SECRET, T)), BODY, now=NOW
    )
    assert verified.scheme == "hmac-sha256"
    assert verified.signed_at == datetime.fromtimestamp(T, UTC)


def test_sign_matches_stripes_own_header() -> None:
    """Stripe's library signs the same string with the secret's bytes as they are."""
    expected = stripe.WebhookSignature.generate_signature_header(BODY.decode(), SECRET, T)
    assert sign(BODY, SECRET, T) == {"Stripe-Signature": expected}


def test_what_sign_makes_passes_construct_event(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stripe._webhook, "time", SimpleNamespace(time=NOW.timestamp))
    header = sign(BODY, SECRET, T)["Stripe-Signature"]
    event = stripe.Webhook.construct_event(BODY, header, SECRET, tolerance=300)
    assert (event.id, event.type) == ("evt_1", "charge.refunded")


@dataclass(frozen=True)
class Case:
    header: str
    source_secrets: tuple[str, ...] = (SECRET,)
    accepted: bool = True
    sdk_accepts: bool | None = None
    """Stripe's library, where it differs from hookgate (None: it agrees)."""


def _header(timestamp: int, *entries: str) -> str:
    return ",".join([f"t={timestamp}", *entries])


CASES = {
    "fresh": Case(_header(T, f"v1={_v1(SECRET)}")),
    "299 s old": Case(_header(T - 299, f"v1={_v1(SECRET, T - 299)}")),
    "299 s ahead": Case(_header(T + 299, f"v1={_v1(SECRET, T + 299)}")),
    "301 s old": Case(_header(T - 301, f"v1={_v1(SECRET, T - 301)}"), accepted=False),
    # Stripe's library checks only `t < now - tolerance`; hookgate bounds both ways.
    "301 s ahead": Case(
        _header(T + 301, f"v1={_v1(SECRET, T + 301)}"), accepted=False, sdk_accepts=True
    ),
    "several v1, one right": Case(
        _header(T, f"v1={'0' * 64}", f"v1={_v1(OLD_SECRET)}", f"v1={_v1(SECRET)}")
    ),
    "v0 only": Case(_header(T, f"v0={_v1(SECRET)}"), accepted=False),
    "v1 and v0 both right": Case(_header(T, f"v1={_v1(SECRET)}", f"v0={_v1(SECRET)}")),
    "wrong secret": Case(_header(T, f"v1={_v1('whsec_someone_else')}"), accepted=False),
    "two secrets of the source, one right": Case(
        _header(T, f"v1={_v1(OLD_SECRET)}"), source_secrets=(SECRET, OLD_SECRET)
    ),
    "malformed header": Case("garbage", accepted=False),
    "no timestamp": Case(f"v1={_v1(SECRET)}", accepted=False),
}


def _hookgate_accepts(case: Case) -> bool:
    verifier = build(VerifierConfig("s", secrets=case.source_secrets))
    try:
        verifier.verify(received({"Stripe-Signature": case.header}), BODY, now=NOW)
    except VerificationError:
        return False
    return True


def _sdk_accepts(case: Case) -> bool:
    """`construct_event` takes one secret: the source accepts if any of its secrets does."""
    for secret in case.source_secrets:
        try:
            stripe.Webhook.construct_event(BODY, case.header, secret, tolerance=300)
        except stripe.SignatureVerificationError:
            continue
        return True
    return False


@pytest.mark.parametrize("name", CASES)
def test_hookgate_and_stripes_library_agree(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stripe._webhook, "time", SimpleNamespace(time=NOW.timestamp))
    case = CASES[name]
    assert _hookgate_accepts(case) is case.accepted
    sdk = case.accepted if case.sdk_accepts is None else case.sdk_accepts
    assert _sdk_accepts(case) is sdk


def test_v0_only_is_a_mismatch() -> None:
    verifier = build(VerifierConfig("s", secrets=(SECRET,)))
    with pytest.raises(SignatureMismatch) as caught:
        verifier.verify(received({"Stripe-Signature": f"t={T},v0={_v1(SECRET)}"}), BODY, now=NOW)
    assert caught.value.code == "invalid_signature"


def test_tampered_body_is_a_mismatch_that_leaks_nothing() -> None:
    verifier = build(VerifierConfig("s", secrets=(SECRET,)))
    headers = sign(BODY, SECRET, T)
    with pytest.raises(SignatureMismatch) as caught:
        verifier.verify(received(headers), BODY.replace(b"ch_1", b"ch_2"), now=NOW)
    assert_no_leak(caught.value, SECRET, headers["Stripe-Signature"], BODY.decode())


@pytest.mark.parametrize("headers", [{}, {"Stripe-Signature": " "}])
def test_missing_header(headers: dict[str, str]) -> None:
    verifier = build(VerifierConfig("s", secrets=(SECRET,)))
    with pytest.raises(MissingSignature):
        verifier.verify(received(headers), BODY, now=NOW)


@pytest.mark.parametrize("value", ["garbage", f"t=,v1={'a' * 64}", f"t=-5,v1={'a' * 64}"])
def test_malformed_header(value: str) -> None:
    verifier = build(VerifierConfig("s", secrets=(SECRET,)))
    with pytest.raises(MalformedSignature) as caught:
        verifier.verify(received({"Stripe-Signature": value}), BODY, now=NOW)
    assert caught.value.code == "malformed_signature"


@pytest.mark.parametrize("offset", [-301, 301])
def test_outside_tolerance_is_stale_both_ways(offset: int) -> None:
    verifier = build(VerifierConfig("s", secrets=(SECRET,)))
    with pytest.raises(StaleTimestamp):
        verifier.verify(received(sign(BODY, SECRET, T + offset)), BODY, now=NOW)


def test_tolerance_is_configurable() -> None:
    verifier = build(VerifierConfig("s", secrets=(SECRET,), tolerance_seconds=600))
    assert verifier.verify(received(sign(BODY, SECRET, T + 500)), BODY, now=NOW)


def test_repr_names_no_secret() -> None:
    verifier = build(VerifierConfig("s", secrets=(SECRET, OLD_SECRET)))
    assert SECRET not in repr(verifier)
    assert OLD_SECRET not in repr(verifier)
