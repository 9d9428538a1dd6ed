"""The admin API takes a signed-in console session in place of the bearer token, and
marks the requests it admits that way as the console's."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.admin.actor import actor_of
from gateway.app import GatewayContext, create_app
from gateway.console.routes import SIGN_IN_BURST
from gateway.settings import Settings
from tests.fixtures.gateway import ADMIN_TOKEN, make_settings, running_gateway

CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


async def whoami(request: Request) -> Response:
    return PlainTextResponse(actor_of(request))


def echoing_actor(settings: Settings) -> Starlette:
    def routes(context: GatewayContext) -> Sequence[BaseRoute]:
        return [Route("/whoami", whoami, methods=["GET", "POST"])]

    return create_app(settings, admin_routes=[routes])


async def sign_in_form(client: httpx.AsyncClient) -> str:
    """The sign-in form's CSRF token (and `client` holds its anonymous session)."""
    form = await client.get("/console/sign-in")
    token = CSRF.search(form.text)
    assert token, form.text
    return token.group(1)


async def signed_in(client: httpx.AsyncClient) -> str:
    """Sign `client` in through the form; the CSRF token of its session."""
    csrf = await sign_in_form(client)
    answer = await client.post("/console/sign-in", data={"csrf": csrf, "token": ADMIN_TOKEN})
    assert answer.status_code == 303, answer.text
    page = await client.get("/console")
    found = CSRF.search(page.text)
    assert found, page.text
    return found.group(1)


async def test_console_requests_are_marked_as_the_consoles(tmp_path: Path) -> None:
    async with running_gateway(make_settings(tmp_path), echoing_actor) as gw:
        async with httpx.AsyncClient(base_url=gw.base_url) as browser:
            csrf = await signed_in(browser)
            assert (await browser.get("/admin/whoami")).text == "console"
            made = await browser.post("/admin/whoami", headers={"X-CSRF-Token": csrf})
            assert made.text == "console"
            refused = await browser.post("/admin/whoami")
            assert (refused.status_code, refused.json()["error"]) == (403, "csrf_failed")
        assert (await gw.admin.get("/admin/whoami")).text == "admin"


async def test_the_bearer_path_wins_over_a_session(tmp_path: Path) -> None:
    async with (
        running_gateway(make_settings(tmp_path), echoing_actor) as gw,
        httpx.AsyncClient(base_url=gw.base_url) as browser,
    ):
        await signed_in(browser)
        wrong = await browser.get("/admin/whoami", headers={"Authorization": "Bearer wrong"})
        assert wrong.status_code == 401


async def test_sign_in_attempts_are_rate_limited(tmp_path: Path) -> None:
    async with (
        running_gateway(make_settings(tmp_path), create_app) as gw,
        httpx.AsyncClient(base_url=gw.base_url) as browser,
    ):
        csrf = await sign_in_form(browser)
        for _ in range(SIGN_IN_BURST):
            wrong = await browser.post("/console/sign-in", data={"csrf": csrf, "token": "guess"})
            assert wrong.status_code == 401
            assert "That is not the admin token." in wrong.text
        right = await browser.post("/console/sign-in", data={"csrf": csrf, "token": ADMIN_TOKEN})
        assert right.status_code == 429
        assert int(right.headers["retry-after"]) >= 1
        assert "Too many failed sign-ins" in right.text
