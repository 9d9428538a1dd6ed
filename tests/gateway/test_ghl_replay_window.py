"""GHL's replay window through the server: a delivery without GHL's ISO 8601
`timestamp` is refused (401 `stale_timestamp`), since its signature carries no time."""

from __future__ import annotations

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

import verifiers.ghl
from schemas import samples
from tests.fixtures.gateway import FrozenClock, RunningGateway
from tests.gateway import deliveries


def _with_timestamp(clock: FrozenClock, value: object) -> bytes:
    body = orjson.loads(samples.sample("ghl", "ContactUpdate", now=clock.now))
    if value is None:
        del body["timestamp"]
    else:
        body["timestamp"] = value
    return orjson.dumps(body)


@pytest.mark.parametrize(
    "stamp",
    [None, "seconds", "milliseconds", "not a time"],
)
async def test_a_delivery_without_an_iso_timestamp_is_refused(
    gateway: RunningGateway,
    clock: FrozenClock,
    ghl_ed25519_key: Ed25519PrivateKey,
    ghl_rsa_key: RSAPrivateKey,
    stamp: str | None,
) -> None:
    source = (await gateway.add_source("ghl", tenant="acme"))["id"]
    epoch = int(clock.now.timestamp())
    value = {"seconds": epoch, "milliseconds": epoch * 1000}.get(stamp or "", stamp)
    body = _with_timestamp(clock, value)
    for headers in (
        verifiers.ghl.sign_ed25519(body, ghl_ed25519_key),
        verifiers.ghl.sign_rsa(body, ghl_rsa_key),
    ):
        response = await gateway.client.post(
            f"/webhooks/ghl/{source}", content=body, headers=headers
        )
        assert response.status_code == 401, response.text
        assert response.json()["error"] == "stale_timestamp"
        assert "timestamp" in response.json()["detail"]


async def test_a_delivery_with_its_iso_timestamp_in_the_window_is_accepted(
    gateway: RunningGateway, clock: FrozenClock, ghl_ed25519_key: Ed25519PrivateKey
) -> None:
    source = (await gateway.add_source("ghl", tenant="acme"))["id"]
    signed = deliveries.ghl(clock.now, ghl_ed25519_key)
    response = await gateway.client.post(
        f"/webhooks/ghl/{source}", content=signed.body, headers=signed.headers
    )
    assert response.status_code == 200, response.text
