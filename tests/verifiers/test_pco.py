"""Planning Center: `X-PCO-Webhooks-Authenticity` = hex HMAC-SHA256(secret, raw body)."""

from __future__ import annotations

import pytest

from tests.verifiers.wire import NOW, assert_no_leak, received
from verifiers import MalformedSignature, MissingSignature, SignatureMismatch, VerifierConfig
from verifiers.pco import PcoVerifier, build, sign

SECRET = "pco-authenticity-secret"
OLD_SECRET = "pco-previous-secret"
BODY = b'{"data":[{"id":"e1","type":"EventDelivery","attributes":{"attempt":1}}]}'

# The published vector: github.com/andy-goellner/pco-python-sdk
# `tests/models/test_webhook_signature.py` (commit 1ef4515), SAMPLE_PAYLOAD, SAMPLE_SECRET
# and the X-PCO-Webhooks-Authenticity of SAMPLE_HEADERS, verbatim. As in the SDK's source,
# Python consumes the `\"` escapes, so the signed bytes carry bare quotes there.
SDK_SECRET = "abcdefg123456"
SDK_SIGNATURE = "a7f2ea9fa2d645b4d2260f2885b939f0b6e3032edcec8e69b5b408fe682176e0"
SDK_PAYLOAD = """{
  "data": [
    {
      "id": "1sa1b1c-def1-ghi2-9876-123456acvb",
      "type": "EventDelivery",
      "attributes": {
        "name": "people.v2.events.thing.happened",
        "attempt": 1,
        "payload": "{\"data\":{\"type\":\"Person\",\"id\":\"123\"}}"
      },
      "relationships": {
        "organization": {
          "data": {
            "type": "Organization",
            "id": "1234"
          }
        }
      }
    }
  ]
}"""
SDK_HEADERS = {
    "X-PCO-Webhooks-Event-ID": "1234567",
    "X-PCO-Webhooks-Event": "1sa1b1c-def1-ghi2-9876-123456acvb",
    "X-PCO-Webhooks-Name": "people.v2.events.thing.happened",
    "X-PCO-Webhooks-Event-Time": "2024-08-02T21:56:58Z",
    "X-PCO-Webhooks-Authenticity": SDK_SIGNATURE,
    "Content-Type": "application/json",
}


def pco(*secrets: str) -> PcoVerifier:
    return build(VerifierConfig(source_id="src-pco", secrets=secrets))


def test_published_sdk_vector_is_accepted() -> None:
    verified = pco(SDK_SECRET).verify(received(SDK_HEADERS), SDK_PAYLOAD.encode(), now=NOW)
    assert verified.scheme == "hmac-sha256"
    assert verified.signed_at is None


def test_signing_helper_reproduces_the_sdk_vector() -> None:
    assert sign(SDK_PAYLOAD.encode(), SDK_SECRET) == {"X-PCO-Webhooks-Authenticity": SDK_SIGNATURE}


def test_sdk_vector_rejects_the_sdk_mismatch_case() -> None:
    """The SDK's `test_verify_no_match_returns_false` sends `abc123`: not even a digest."""
    with pytest.raises(MalformedSignature):
        pco(SDK_SECRET).verify(
            received({"X-PCO-Webhooks-Authenticity": "abc123"}), SDK_PAYLOAD.encode(), now=NOW
        )


def test_genuine_delivery_and_uppercase_hex_are_accepted() -> None:
    digest = sign(BODY, SECRET)["X-PCO-Webhooks-Authenticity"]
    for value in (digest, digest.upper()):
        headers = received({"X-PCO-Webhooks-Authenticity": value})
        assert pco(SECRET).verify(headers, BODY, now=NOW).scheme == "hmac-sha256"


def test_tampered_body_is_a_signature_mismatch() -> None:
    headers = sign(BODY, SECRET)
    with pytest.raises(SignatureMismatch) as caught:
        pco(SECRET).verify(received(headers), BODY + b" ", now=NOW)
    assert caught.value.code == "invalid_signature"
    assert_no_leak(caught.value, SECRET, headers["X-PCO-Webhooks-Authenticity"], BODY.decode())


def test_wrong_secret_is_a_signature_mismatch() -> None:
    with pytest.raises(SignatureMismatch):
        pco(SECRET).verify(received(sign(BODY, "not-the-secret")), BODY, now=NOW)


@pytest.mark.parametrize("headers", [{}, {"X-PCO-Webhooks-Authenticity": ""}])
def test_missing_header(headers: dict[str, str]) -> None:
    with pytest.raises(MissingSignature) as caught:
        pco(SECRET).verify(received(headers), BODY, now=NOW)
    assert caught.value.code == "missing_signature"


@pytest.mark.parametrize(
    "value",
    ["zz" * 32, "ab" * 31, "ab" * 33, "sha256=" + "ab" * 32, "ab" * 31 + "a g"],
)
def test_malformed_header(value: str) -> None:
    with pytest.raises(MalformedSignature) as caught:
        pco(SECRET).verify(received({"X-PCO-Webhooks-Authenticity": value}), BODY, now=NOW)
    assert caught.value.code == "malformed_signature"


def test_rotation_accepts_old_and_new_secrets() -> None:
    for secret in (SECRET, OLD_SECRET):
        assert pco(SECRET, OLD_SECRET).verify(received(sign(BODY, secret)), BODY, now=NOW)
    with pytest.raises(SignatureMismatch):
        pco(SECRET).verify(received(sign(BODY, OLD_SECRET)), BODY, now=NOW)


def test_source_without_secret_rejects_everything() -> None:
    with pytest.raises(SignatureMismatch):
        pco().verify(received(sign(BODY, "")), BODY, now=NOW)
