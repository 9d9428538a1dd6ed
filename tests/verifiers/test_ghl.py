"""GHL: Ed25519 `x-ghl-signature` (no fallback when present), else RSA `x-wh-signature`."""

from __future__ import annotations

import base64
import hashlib
import os
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)

from tests.verifiers.wire import NOW, assert_no_leak, received
from verifiers import (
    MalformedSignature,
    MissingSignature,
    SignatureMismatch,
    StaleTimestamp,
    VerifierConfig,
)
from verifiers.ghl import (
    GHL_ED25519_PUBLIC_KEY,
    GHL_RSA_PUBLIC_KEY,
    GhlVerifier,
    build,
    sign_ed25519,
    sign_rsa,
)

ED = ed25519.Ed25519PrivateKey.generate()
OLD_ED = ed25519.Ed25519PrivateKey.generate()
RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
UNSTAMPED = b'{"type":"ContactCreate","locationId":"loc1","id":"c1","webhookId":"w1"}'

PublicKey = ed25519.Ed25519PublicKey | rsa.RSAPublicKey


def pem(key: PublicKey) -> str:
    return key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


def ghl(
    ed_keys: tuple[ed25519.Ed25519PrivateKey, ...] = (ED,),
    rsa_keys: tuple[rsa.RSAPrivateKey, ...] = (RSA,),
    tolerance_seconds: int | None = None,
) -> GhlVerifier:
    public_keys = {
        "ed25519": tuple(pem(key.public_key()) for key in ed_keys),
        "rsa": tuple(pem(key.public_key()) for key in rsa_keys),
    }
    return build(
        VerifierConfig(
            source_id="src-ghl", public_keys=public_keys, tolerance_seconds=tolerance_seconds
        )
    )


def stamped(at: datetime | str) -> bytes:
    stamp = at if isinstance(at, str) else at.isoformat().replace("+00:00", "Z")
    return UNSTAMPED[:-1] + f',"timestamp":"{stamp}"}}'.encode()


BODY = stamped(NOW)


def signed(scheme: str, body: bytes) -> dict[str, str]:
    return sign_ed25519(body, ED) if scheme == "ed25519" else sign_rsa(body, RSA)


def test_genuine_ed25519_and_rsa_deliveries_are_accepted() -> None:
    assert ghl().verify(received(sign_ed25519(BODY, ED)), BODY, now=NOW).scheme == "ed25519"
    assert ghl().verify(received(sign_rsa(BODY, RSA)), BODY, now=NOW).scheme == "rsa-sha256"


def test_ed25519_header_wins_without_fallback_to_rsa() -> None:
    headers = sign_rsa(BODY, RSA) | sign_ed25519(BODY, OLD_ED)
    with pytest.raises(SignatureMismatch) as caught:
        ghl().verify(received(headers), BODY, now=NOW)
    assert "x-ghl-signature" in caught.value.detail


@pytest.mark.parametrize("scheme", ["ed25519", "rsa"])
def test_tampered_body_is_a_signature_mismatch(scheme: str) -> None:
    headers = signed(scheme, BODY)
    with pytest.raises(SignatureMismatch) as caught:
        ghl().verify(received(headers), BODY.replace(b"c1", b"c2"), now=NOW)
    assert caught.value.code == "invalid_signature"
    assert_no_leak(caught.value, *headers.values(), BODY.decode())


def test_signatures_from_other_keys_are_mismatches() -> None:
    other_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for headers in (sign_ed25519(BODY, OLD_ED), sign_rsa(BODY, other_rsa)):
        with pytest.raises(SignatureMismatch):
            ghl().verify(received(headers), BODY, now=NOW)


@pytest.mark.parametrize("headers", [{}, {"x-ghl-signature": " ", "x-wh-signature": ""}])
def test_missing_header(headers: dict[str, str]) -> None:
    with pytest.raises(MissingSignature) as caught:
        ghl().verify(received(headers), BODY, now=NOW)
    assert caught.value.code == "missing_signature"


@pytest.mark.parametrize(
    "headers",
    [
        {"x-ghl-signature": "not base64!"},
        {"x-ghl-signature": base64.b64encode(b"x" * 63).decode()},
        {"x-ghl-signature": base64.b64encode(b"x" * 64).decode()[:-2]},
        {"x-wh-signature": "%%%"},
    ],
)
def test_malformed_header(headers: dict[str, str]) -> None:
    with pytest.raises(MalformedSignature) as caught:
        ghl().verify(received(headers), BODY, now=NOW)
    assert caught.value.code == "malformed_signature"


@pytest.mark.parametrize("offset", [timedelta(seconds=-301), timedelta(seconds=301)])
@pytest.mark.parametrize("scheme", ["ed25519", "rsa"])
def test_payload_timestamp_outside_window_is_stale_both_ways(
    offset: timedelta, scheme: str
) -> None:
    body = stamped(NOW + offset)
    headers = signed(scheme, body)
    with pytest.raises(StaleTimestamp) as caught:
        ghl().verify(received(headers), body, now=NOW)
    assert caught.value.code == "stale_timestamp"


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2026-03-01T11:56:00Z", datetime(2026, 3, 1, 11, 56, tzinfo=UTC)),
        ("2026-03-01T13:04:00+01:00", datetime(2026, 3, 1, 12, 4, tzinfo=UTC)),
        ("2026-03-01T12:00:00.250", datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)),
    ],
)
def test_payload_timestamp_inside_window_is_accepted(stamp: str, expected: datetime) -> None:
    body = stamped(stamp)
    verified = ghl().verify(received(sign_ed25519(body, ED)), body, now=NOW)
    assert verified.signed_at == expected


@pytest.mark.parametrize(
    "body",
    [b"not json at all", b'["timestamp", "2001-01-01T00:00:00Z"]', b"\xff{", b"", b"null"],
)
def test_a_body_that_is_no_json_object_is_left_to_normalization(body: bytes) -> None:
    """It is no GHL event, so it cannot be accepted: normalization answers 400."""
    verified = ghl().verify(received(sign_ed25519(body, ED)), body, now=NOW)
    assert verified.signed_at is None


@pytest.mark.parametrize(
    "body",
    [
        UNSTAMPED,
        b'{"timestamp": 1772366400}',
        b'{"timestamp": 1772366400000}',
        b'{"timestamp": null}',
        b'{"timestamp": "yesterday"}',
        b'{"timestamp": ""}',
        b'{"nested": {"timestamp": "2026-03-01T12:00:00Z"}}',
    ],
)
@pytest.mark.parametrize("scheme", ["ed25519", "rsa"])
def test_an_object_without_an_iso_timestamp_is_refused_as_stale(body: bytes, scheme: str) -> None:
    """The signatures carry no time: without the payload's, a captured delivery replays
    for ever. GHL documents the top-level `timestamp` only as ISO 8601 (1772366400 is NOW)."""
    with pytest.raises(StaleTimestamp) as caught:
        ghl().verify(received(signed(scheme, body)), body, now=NOW)
    assert caught.value.code == "stale_timestamp"
    assert caught.value.detail.endswith(".")


def test_stale_is_checked_only_after_the_signature() -> None:
    body = stamped(NOW - timedelta(days=30))
    with pytest.raises(SignatureMismatch):
        ghl().verify(received(sign_ed25519(body, OLD_ED)), body, now=NOW)


def test_window_is_configurable() -> None:
    body = stamped(NOW - timedelta(seconds=500))
    assert ghl(tolerance_seconds=600).verify(received(sign_ed25519(body, ED)), body, now=NOW)


def test_rotation_accepts_every_configured_key() -> None:
    verifier = ghl(ed_keys=(ED, OLD_ED))
    for key in (ED, OLD_ED):
        assert verifier.verify(received(sign_ed25519(BODY, key)), BODY, now=NOW)


def test_build_refuses_keys_that_do_not_load_or_sit_under_the_wrong_scheme() -> None:
    for public_keys in (
        {"ed25519": ("not a pem",)},
        {"ed25519": (pem(RSA.public_key()),)},
        {"rsa": (pem(ED.public_key()),)},
    ):
        with pytest.raises(ValueError, match=r"."):
            build(VerifierConfig(source_id="s", public_keys=public_keys))


def published() -> GhlVerifier:
    config = VerifierConfig(
        source_id="s",
        public_keys={"ed25519": (GHL_ED25519_PUBLIC_KEY,), "rsa": (GHL_RSA_PUBLIC_KEY,)},
    )
    return build(config)


def test_published_keys_load_as_documented() -> None:
    """providers.md §4: the RSA key (GoHighLevel/highlevel-api-docs
    `docs/oauth/WebhookAuthentication.md`) is RSA-4096 with SPKI-DER SHA-256 2f62045d…fd25;
    the Ed25519 key is the one the Webhook Integration Guide publishes."""
    verifier = published()
    assert repr(verifier).startswith("GhlVerifier(ed25519_keys=1, rsa_keys=1,")
    rsa_key = load_pem_public_key(GHL_RSA_PUBLIC_KEY.encode())
    assert isinstance(rsa_key, rsa.RSAPublicKey)
    assert rsa_key.key_size == 4096
    der = rsa_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    assert (
        hashlib.sha256(der).hexdigest()
        == "2f62045d413b1b7747e26770ce7f57840cbf86288cd20ceb90d299a62501fd25"
    )


def test_published_keys_reject_forged_signatures() -> None:
    verifier = published()
    forged = [
        sign_ed25519(BODY, ED),
        {"x-ghl-signature": base64.b64encode(os.urandom(64)).decode()},
        sign_rsa(BODY, RSA),
        {"x-wh-signature": base64.b64encode(os.urandom(512)).decode()},
    ]
    for headers in forged:
        with pytest.raises(SignatureMismatch):
            verifier.verify(received(headers), BODY, now=NOW)
