"""Hostile webhook requests, drawn from a `random.Random`: for the property test and the soak.

Google notifications carry no body and are authenticated by the channel token
header alone, so a Google request with genuine headers is genuine whatever its body.

Each `Case` carries the raw request bytes and what the gateway may do with it:
`genuine` ones (validly signed, fresh, well formed) must get 200 and publish;
`may_publish` is False for everything without a valid signature, which must never
get a 2xx. No case may get a 5xx.

Some kinds are genuinely signed but carry what once stopped the consumers or was
kept for strangers (issue 18): a provider time in year 9999 (refused, 400), NUL in a
name (accepted, applied without it), made-up source ids of up to 12,000 characters
(404 before any lookup), GHL payloads without an ISO timestamp (401), PCO deletes
whose `attributes` are empty or null (accepted: a delete refused is a delete lost), a
GHL delivery for a location the source is not bound to (403), and a notification on a
Google channel the store does not hold (200, nothing published).
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import verifiers.calendly
import verifiers.ghl
import verifiers.pco
import verifiers.stripe
from schemas import samples
from tests.fixtures.rawhttp import Header, request_bytes
from tests.gateway import deliveries

PROVIDERS = ("calendly", "pco", "ghl", "google", "stripe")
SIGNATURE_HEADERS = {
    "calendly": ("Calendly-Webhook-Signature",),
    "pco": ("X-PCO-Webhooks-Authenticity",),
    "ghl": ("x-ghl-signature", "x-wh-signature"),
    "google": ("X-Goog-Channel-Token", "X-Goog-Channel-ID", "X-Goog-Resource-State"),
    "stripe": ("Stripe-Signature",),
}
TOLERANCE_SECONDS = {"calendly": 180, "ghl": 300, "stripe": 300}
KINDS = (
    "genuine",
    "wrong_content_type",
    "random_body",
    "signed_garbage",
    "deep_json",
    "huge_header",
    "unicode_headers",
    "duplicated_signature",
    "stale_replay",
    "wrong_source",
    "forged_google",
    "wrong_method",
    "garbage_http",
    "far_future_time",
    "nul_text",
    "made_up_source",
    "ghl_untimed",
    "pco_destroyed_bare",
    "ghl_other_location",
    "google_unknown_channel",
)


@dataclass(frozen=True)
class Targets:
    sources: dict[str, str]
    """provider -> source id"""
    ghl_key: Ed25519PrivateKey
    max_header_bytes: int
    max_body_bytes: int
    google_channel: str | None = None
    """A live channel of the Google source: only its notifications publish."""


@dataclass(frozen=True)
class Case:
    kind: str
    provider: str
    raw: bytes
    genuine: bool = False
    may_publish: bool = False
    expect: frozenset[int] | None = None
    publishes: bool = True
    """Whether a 200 for it publishes an event (not for a notification on an unknown
    Google channel: genuine, answered 200, and dropped)."""


def _headers(values: dict[str, str]) -> list[Header]:
    return [(k.encode(), v.encode()) for k, v in values.items()]


def _genuine(provider: str, targets: Targets, now: datetime) -> deliveries.Signed:
    if provider == "calendly":
        return deliveries.calendly(now)
    if provider == "pco":
        return deliveries.pco(now)
    if provider == "ghl":
        return deliveries.ghl(now, targets.ghl_key)
    if provider == "stripe":
        return deliveries.stripe(now)
    return deliveries.google(
        now,
        targets.sources["google"],
        channel_id=targets.google_channel,
        message_number=secrets.randbelow(2**62),
    )


def _post(provider: str, source_id: str, headers: list[Header], body: bytes) -> bytes:
    return request_bytes(b"POST", f"/webhooks/{provider}/{source_id}".encode(), headers, body)


def _random_bytes(rng: random.Random, most: int) -> bytes:
    return rng.randbytes(rng.randint(0, most))


def _unicode(rng: random.Random, most: int) -> str:
    alphabet = "aé漢字🙂\u200b\u202e\ufeff\x00\x7f'\"\\{}[]:,"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, most)))


def _deep_json(rng: random.Random, most: int) -> bytes:
    depth = rng.randint(1, most)
    opener, closer = rng.choice([(b"[", b"]"), (b'{"a":', b"}")])
    return opener * depth + b"1" + closer * depth * rng.randint(0, 1)


def draw(rng: random.Random, targets: Targets, now: datetime | None = None) -> Case:
    """One hostile (or, for `genuine`, well-behaved) request."""
    now = now or datetime.now(UTC)
    kind = rng.choice(KINDS)
    provider = rng.choice(PROVIDERS)
    source = targets.sources[provider]
    if kind in ("genuine", "wrong_content_type"):
        signed = _genuine(provider, targets, now)
        headers = _headers(signed.headers)
        if kind == "wrong_content_type":
            kind_value = rng.choice(
                [b"text/plain", b"multipart/form-data; boundary=x", b"\xff\xfe"]
            )
            headers.append((b"Content-Type", kind_value))
        return Case(kind, provider, _post(provider, source, headers, signed.body), True, True)
    if kind == "random_body":
        headers = [
            (
                name.encode(),
                rng.randbytes(rng.randint(0, 80)).replace(b"\r", b"").replace(b"\n", b""),
            )
            for name in SIGNATURE_HEADERS[provider]
            if rng.random() < 0.7
        ]
        return Case(kind, provider, _post(provider, source, headers, _random_bytes(rng, 4096)))
    if kind == "signed_garbage":
        provider = rng.choice(("calendly", "pco", "stripe"))
        source = targets.sources[provider]
        body = rng.choice(
            [
                _random_bytes(rng, 2048),
                _deep_json(rng, 50_000),
                _unicode(rng, 500).encode("utf-8", "surrogatepass"),
                orjson.dumps({"event": _unicode(rng, 20), "payload": rng.random()}),
            ]
        )
        if provider == "calendly":
            signature = verifiers.calendly.sign(body, deliveries.CALENDLY_KEY, int(now.timestamp()))
        elif provider == "stripe":
            signature = verifiers.stripe.sign(body, deliveries.STRIPE_SECRET, int(now.timestamp()))
        else:
            signature = verifiers.pco.sign(body, deliveries.PCO_SECRET)
        return Case(
            kind, provider, _post(provider, source, _headers(signature), body), may_publish=True
        )
    if kind == "deep_json":
        signed = _genuine(provider, targets, now)
        body = _deep_json(rng, 200_000)
        raw = _post(provider, source, _headers(signed.headers), body)
        return Case(kind, provider, raw, may_publish=provider == "google")
    if kind == "huge_header":
        signed = _genuine(provider, targets, now)
        size = int(targets.max_header_bytes * rng.uniform(0.2, 4))
        headers = [*_headers(signed.headers), (b"X-Pad", b"p" * size)]
        body = signed.body if rng.random() < 0.5 else signed.body + b" "
        valid = (provider == "google" or body == signed.body) and size < targets.max_header_bytes
        return Case(kind, provider, _post(provider, source, headers, body), may_publish=valid)
    if kind == "unicode_headers":
        headers = [
            (
                name.encode(),
                _unicode(rng, 60)
                .encode("utf-8", "surrogatepass")
                .replace(b"\r", b"")
                .replace(b"\n", b""),
            )
            for name in SIGNATURE_HEADERS[provider]
        ]
        body = _unicode(rng, 300).encode("utf-8", "surrogatepass")
        return Case(kind, provider, _post(provider, source, headers, body))
    if kind == "duplicated_signature":
        signed = _genuine(provider, targets, now)
        headers = _headers(signed.headers)
        name = SIGNATURE_HEADERS[provider][0].encode()
        bogus = (
            name,
            rng.choice(
                [b"", b"t=1,v1=00", b"sha256=" + b"0" * 64, rng.randbytes(16).hex().encode()]
            ),
        )
        headers.insert(rng.randint(0, len(headers)), bogus)
        return Case(kind, provider, _post(provider, source, headers, signed.body), may_publish=True)
    if kind == "stale_replay":
        provider = rng.choice(("calendly", "ghl", "stripe"))
        source = targets.sources[provider]
        then = now - timedelta(seconds=TOLERANCE_SECONDS[provider] + rng.randint(60, 10**7))
        if provider == "calendly":
            body = samples.sample("calendly", "invitee.created", now=then)
            signed = deliveries.Signed(
                verifiers.calendly.sign(body, deliveries.CALENDLY_KEY, int(then.timestamp())), body
            )
        elif provider == "stripe":
            signed = deliveries.stripe(then)
        else:
            signed = deliveries.ghl(then, targets.ghl_key)
        return Case(
            kind,
            provider,
            _post(provider, source, _headers(signed.headers), signed.body),
            expect=frozenset({401}),
        )
    if kind == "wrong_source":
        signed = _genuine(provider, targets, now)
        other = rng.choice([p for p in PROVIDERS if p != provider])
        target = rng.choice(
            [
                targets.sources[other],
                "src_" + _unicode(rng, 10).encode().hex(),
                "x" * rng.randint(1, 3000),
            ]
        )
        return Case(
            kind,
            provider,
            _post(provider, target, _headers(signed.headers), signed.body),
            expect=frozenset({401, 404, 431}),
        )
    if kind == "forged_google":
        provider = "google"
        headers = [
            (b"X-Goog-Channel-Token", rng.randbytes(rng.randint(0, 300)).hex().encode()),
            (b"X-Goog-Channel-ID", _unicode(rng, 40).encode()),
            (b"X-Goog-Resource-State", rng.choice([b"exists", b"sync", b"not_exists", b""])),
            (b"X-Goog-Message-Number", str(rng.randint(-5, 10**20)).encode()),
        ]
        return Case(
            kind,
            provider,
            _post(provider, targets.sources["google"], headers, _random_bytes(rng, 100)),
            expect=frozenset({400, 401}),
        )
    if kind == "wrong_method":
        method = rng.choice([b"GET", b"PUT", b"DELETE", b"PATCH", b"OPTIONS"])
        raw = request_bytes(
            method, f"/webhooks/{provider}/{source}".encode(), [], _random_bytes(rng, 100)
        )
        return Case(kind, provider, raw, expect=frozenset({405}))
    if kind in POISON_KINDS:
        return _poison(kind, rng, targets, now)
    garbage = rng.randbytes(rng.randint(1, 2000))
    return Case(
        kind,
        provider,
        rng.choice([garbage, b"POST /webhooks/ HTTP/1.1\r\n" + garbage + b"\r\n\r\n"]),
    )


POISON_KINDS = frozenset(
    {
        "far_future_time",
        "nul_text",
        "made_up_source",
        "ghl_untimed",
        "pco_destroyed_bare",
        "ghl_other_location",
        "google_unknown_channel",
    }
)
GHL_LOCATION = "ve9EPM428h8vShlRW1KT"
"""The location the GHL source is bound to (`options.location_id`): the samples' one."""


def _iso(moment: datetime) -> str:
    """As `schemas.samples` writes Calendly's times."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _poison(kind: str, rng: random.Random, targets: Targets, now: datetime) -> Case:
    """A genuinely signed delivery carrying what once stopped the line or was kept."""
    if kind == "far_future_time":
        body = samples.sample("calendly", "invitee.created", now=now)
        body = body.replace(_iso(now).encode(), b"9999-12-31T23:59:59.999999Z")
        signed = deliveries.calendly(now, body=body)
        return _signed_case(kind, "calendly", targets, signed, expect=frozenset({400}))
    if kind == "nul_text":
        name = rng.choice(["Ada\x00 Lovelace", "\x00", "Ada Love\x00\x00lace"])
        body = samples.calendly("invitee.created", now=now, name=name, email="n\x00l@example.com")
        return _signed_case(kind, "calendly", targets, deliveries.calendly(now, body=body))
    if kind == "made_up_source":
        provider = rng.choice(PROVIDERS)
        made_up = "".join(rng.choice("abcxyz0129_-") for _ in range(rng.randint(1, 12_000)))
        signed = _genuine(provider, targets, now)
        raw = _post(provider, made_up, _headers(signed.headers), signed.body)
        return Case(kind, provider, raw, expect=frozenset({404, 431}))
    if kind == "ghl_untimed":
        payload = orjson.loads(samples.sample("ghl", "ContactUpdate", now=now))
        stamp = rng.choice([None, int(now.timestamp()), int(now.timestamp() * 1000), "soon"])
        if stamp is None:
            del payload["timestamp"]
        else:
            payload["timestamp"] = stamp
        signed = deliveries.ghl(now, targets.ghl_key, body=orjson.dumps(payload))
        return _signed_case(kind, "ghl", targets, signed, expect=frozenset({401}), genuine=False)
    if kind == "ghl_other_location":
        body = samples.ghl("ContactCreate", now=now, location_id=f"other{rng.randrange(10**6)}")
        signed = deliveries.ghl(now, targets.ghl_key, body=body)
        return _signed_case(kind, "ghl", targets, signed, expect=frozenset({403}), genuine=False)
    if kind == "google_unknown_channel":
        signed = deliveries.google(
            now, targets.sources["google"], message_number=rng.randrange(2**62)
        )
        raw = _post("google", targets.sources["google"], _headers(signed.headers), signed.body)
        return Case(kind, "google", raw, genuine=True, may_publish=True, publishes=False)
    delivery = orjson.loads(samples.sample("pco", "person.destroyed", now=now))
    document = orjson.loads(delivery["data"][0]["attributes"]["payload"])
    document["data"]["attributes"] = rng.choice([{}, None])
    delivery["data"][0]["attributes"]["payload"] = orjson.dumps(document).decode()
    signed = deliveries.pco(now, body=orjson.dumps(delivery))
    return _signed_case(kind, "pco", targets, signed)


def _signed_case(
    kind: str,
    provider: str,
    targets: Targets,
    signed: deliveries.Signed,
    *,
    expect: frozenset[int] | None = None,
    genuine: bool = True,
) -> Case:
    raw = _post(provider, targets.sources[provider], _headers(signed.headers), signed.body)
    accepted = genuine and expect is None
    return Case(kind, provider, raw, genuine=accepted, may_publish=accepted, expect=expect)


def judge(case: Case, status: int | None) -> str | None:
    """None when the answer is acceptable for the case, else why not."""
    if status is None:
        return None if case.kind == "garbage_http" else "no response"
    if status >= 500:
        return f"server error {status}"
    if 200 <= status < 300 and not case.may_publish:
        return f"{status} for a request without a valid signature"
    if case.genuine and status != 200:
        return f"{status} for a genuine delivery"
    if case.expect is not None and status not in case.expect:
        return f"{status}, expected one of {sorted(case.expect)}"
    return None
