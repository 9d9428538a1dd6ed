"""GHL deliveries are tied to a location: a genuine one posted to another tenant's URL
is published under the tenant whose source holds the location, never the URL's.

GHL signs every delivery with one global key, so the signature cannot tell tenants
apart; the payload's `locationId` can. The Marketplace app posts every location to one
URL, so a delivery for a location another source holds (`options.location_id`, or the
location an OAuth connect learned) is that source's; one for a location nobody holds is
refused (403 `location_mismatch`) by a source bound to another location.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.app import create_app
from schemas import samples
from schemas.envelope import source_uri
from tests.fixtures.gateway import FrozenClock, RunningGateway, make_settings, running_gateway
from tests.gateway import deliveries
from tests.gateway.conftest import public_pem
from tests.gateway.test_webhooks import published

L1, L2, UNCLAIMED = "loc1AAAAAAAAAAAAAAAA", "loc2BBBBBBBBBBBBBBBB", "loc9ZZZZZZZZZZZZZZZZ"


async def deliver(
    gateway: RunningGateway, source: str, location: str, key: Ed25519PrivateKey, now: datetime
) -> httpx.Response:
    body = samples.ghl("ContactCreate", now=now, location_id=location)
    signed = deliveries.ghl(now, key, body=body)
    return await gateway.client.post(
        f"/webhooks/ghl/{source}", content=signed.body, headers=signed.headers
    )


async def test_a_delivery_for_one_location_is_never_published_under_another_tenant(
    tmp_path: Path, store_url: str, ghl_ed25519_key: Ed25519PrivateKey
) -> None:
    settings = make_settings(
        tmp_path, database_url=store_url, ghl_public_key_ed25519=public_pem(ghl_ed25519_key)
    )
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    async with running_gateway(settings, lambda s: create_app(s, clock=clock)) as gateway:
        alpha = (await gateway.add_source("ghl", tenant="alpha", options={"location_id": L1}))["id"]
        beta = (await gateway.add_source("ghl", tenant="beta", options={"location_id": L2}))["id"]
        gamma = (await gateway.add_source("ghl", tenant="gamma"))["id"]
        key, now = ghl_ed25519_key, clock.now

        misrouted = await deliver(gateway, beta, L1, key, now)
        to_unbound = await deliver(gateway, gamma, L1, key, now)
        beta_to_alpha = await deliver(gateway, alpha, L2, key, now)
        unclaimed_to_beta = await deliver(gateway, beta, UNCLAIMED, key, now)
        own = await deliver(gateway, alpha, L1, key, now)
        unclaimed_to_unbound = await deliver(gateway, gamma, UNCLAIMED, key, now)
        records = [record.to_event() for record in await published(gateway)]
        rejections = (await gateway.admin.get("/admin/rejections")).json()["rejections"]

    assert unclaimed_to_beta.status_code == 403, unclaimed_to_beta.text
    assert unclaimed_to_beta.json()["error"] == "location_mismatch"
    assert unclaimed_to_beta.json()["detail"].endswith(".")
    for taken in (misrouted, to_unbound, beta_to_alpha, own, unclaimed_to_unbound):
        assert taken.status_code == 200, taken.text
    by_location = {
        (orjson.loads(event.data)["locationId"], event.tenant, event.source) for event in records
    }
    assert by_location == {
        (L1, "alpha", source_uri("ghl", alpha)),
        (L2, "beta", source_uri("ghl", beta)),
        (UNCLAIMED, "gamma", source_uri("ghl", gamma)),
    }
    assert [r["error"] for r in rejections] == ["location_mismatch"]
