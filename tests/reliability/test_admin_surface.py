"""The admin surface: every route behind the token, its own port, and the rejection log."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.routing import BaseRoute, Mount, Route

from gateway.app import create_app
from gateway.commands import CommandError
from gateway.commands.serve import listeners
from gateway.runtime.serve import build_app
from tests.fixtures.gateway import ADMIN_TOKEN, make_settings, running_gateway
from tests.fixtures.net import free_port
from tests.gateway import deliveries
from tests.gateway.conftest import public_pem


def admin_endpoints(routes: list[BaseRoute], prefix: str = "") -> list[tuple[str, str]]:
    """(method, concrete path) for every route under /admin, mounts included."""
    found: list[tuple[str, str]] = []
    for route in routes:
        if isinstance(route, Mount):
            found += admin_endpoints(list(route.routes), prefix + route.path)
        elif isinstance(route, Route) and (prefix + route.path).startswith("/admin"):
            path = re.sub(r"\{[^}]+\}", "x", prefix + route.path)
            found += [(m, path) for m in sorted(route.methods or ()) if m != "HEAD"]
    return found


async def test_no_admin_route_answers_without_the_token(tmp_path: Path) -> None:
    """Enumerates the routes of the app `serve` runs, so a route added later is covered too."""
    async with running_gateway(make_settings(tmp_path), build_app) as gw:
        endpoints = admin_endpoints(list(gw.app.routes))
        assert len(endpoints) >= 6, endpoints
        assert ("GET", "/admin/rejections") in endpoints
        wrong: tuple[dict[str, str], ...] = (
            {},
            {"Authorization": "Bearer"},
            {"Authorization": "Bearer wrong"},
            {"Authorization": f"Bearer {ADMIN_TOKEN}x"},
            {"Authorization": f"Bearer {ADMIN_TOKEN[:-1]}"},
            {"Authorization": f"Basic {ADMIN_TOKEN}"},
            {"Authorization": ADMIN_TOKEN},
            {"X-Admin-Token": ADMIN_TOKEN},
        )
        for method, path in endpoints:
            for headers in wrong:
                response = await gw.client.request(method, path, headers=headers, json={})
                assert response.status_code == 401, (method, path, headers, response.text)
                assert response.json()["error"] == "unauthorized"
            authorized = await gw.admin.request(method, path, json={})
            assert authorized.status_code != 401, (method, path)


async def test_admin_port_serves_admin_and_the_public_port_does_not(
    tmp_path: Path, ghl_key: Ed25519PrivateKey
) -> None:
    settings = make_settings(tmp_path, admin_port=free_port())
    async with running_gateway(settings, create_app) as gw:
        source = await gw.add_source_id("calendly", tenant="acme", secret=deliveries.CALENDLY_KEY)
        assert (await gw.admin.get("/admin/sources")).status_code == 200
        public = await gw.client.get(
            "/admin/sources", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
        assert public.status_code == 404
        assert public.json()["error"] == "not_found"
        assert (await gw.client.get("/admin")).status_code == 404
        assert (await gw.client.get("/console/sign-in")).status_code == 404
        assert (await gw.admin.get("/console/sign-in")).status_code == 200
        signed = deliveries.calendly(datetime.now(UTC))
        url = f"/webhooks/calendly/{source}"
        ok = await gw.client.post(url, content=signed.body, headers=signed.headers)
        assert ok.status_code == 200
        on_admin = await gw.admin.post(url, content=signed.body, headers=signed.headers)
        assert on_admin.status_code == 404, "webhooks are not served on the admin port"
        for client in (gw.client, gw.admin):
            assert (await client.get("/healthz")).status_code == 200
            assert (await client.get("/metrics")).status_code == 200
        async with httpx.AsyncClient(base_url=str(gw.admin.base_url)) as anonymous:
            assert (await anonymous.get("/admin/sources")).status_code == 401


async def test_rejections_are_listed_newest_first_without_bodies_or_signatures(
    tmp_path: Path, ghl_key: Ed25519PrivateKey
) -> None:
    settings = make_settings(
        tmp_path, ghl_public_key_ed25519=public_pem(ghl_key), rejections_kept=5, max_body_bytes=8192
    )
    async with running_gateway(settings, create_app) as gw:
        source = await gw.add_source_id("calendly", tenant="acme", secret=deliveries.CALENDLY_KEY)
        marker = b"BODY-MARKER-must-not-be-listed"
        forged = deliveries.calendly(datetime.now(UTC), key="an attacker's guess")
        body = forged.body.replace(b'"email"', b'"' + marker + b'", "email"', 1)
        sent = [
            (f"/webhooks/calendly/{source}", body, forged.headers),
            ("/webhooks/calendly/src_nobody", body, forged.headers),
            (f"/webhooks/calendly/{source}", b"x" * 9000, {}),
            ("/webhooks/stripe/" + "y" * 500, b"", {}),
        ]
        for path, content, headers in sent:
            assert (await gw.client.post(path, content=content, headers=headers)).status_code >= 400
        listed = await gw.admin.get("/admin/rejections")
        assert listed.status_code == 200
        entries = listed.json()["rejections"]
        assert [(e["status"], e["error"], e["provider"]) for e in entries] == [
            (404, "unknown_source", "stripe"),
            (413, "body_too_large", "calendly"),
            (404, "unknown_source", "calendly"),
            (401, "invalid_signature", "calendly"),
        ]
        assert entries[3]["source_id"] == source
        assert all(e["detail"].endswith(".") and e["time"] for e in entries)
        assert len(entries[0]["source_id"]) <= 64
        text = listed.text
        assert marker.decode() not in text
        signature = forged.headers["Calendly-Webhook-Signature"].split("v1=")[1]
        assert signature not in text
        assert deliveries.CALENDLY_KEY not in text
        for _ in range(4):
            await gw.client.post("/webhooks/pco/src_nobody", content=b"{}")
        bounded = (await gw.admin.get("/admin/rejections")).json()
        assert (len(bounded["rejections"]), bounded["kept"], bounded["total"]) == (5, 5, 8)
        one = (await gw.admin.get("/admin/rejections?limit=1")).json()["rejections"]
        assert len(one) == 1
        assert (await gw.admin.get("/admin/rejections?limit=x")).status_code == 422
        metrics = (await gw.client.get("/metrics")).text
        failures = 'hookgate_verification_failures_total{provider="calendly",reason="%s"} 1.0'
        assert failures % "invalid_signature" in metrics


def test_admin_port_must_differ_from_the_public_port(tmp_path: Path) -> None:
    port = free_port()
    settings = make_settings(tmp_path, port=port, admin_port=port)
    with pytest.raises(CommandError, match="HOOKGATE_ADMIN_PORT must differ"):
        listeners(settings, settings.host, port)
