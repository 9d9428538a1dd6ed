"""Signing in to the console, its cookie, and CSRF on its forms and admin calls."""

from __future__ import annotations

import time

from playwright.async_api import BrowserContext, Page, expect

from tests.console.browser import session_cookie, sign_in
from tests.fixtures.gateway import ADMIN_TOKEN, RunningGateway

TWELVE_HOURS = 12 * 3600


async def test_a_wrong_token_is_refused(context: BrowserContext) -> None:
    page = await context.new_page()
    await sign_in(page, "not-the-admin-token")
    await expect(page.get_by_role("alert")).to_have_text("That is not the admin token.")
    await page.goto("/console")
    await expect(page).to_have_url("/console/sign-in")


async def test_the_session_cookie_is_http_only_strict_and_expires(
    context: BrowserContext,
) -> None:
    page = await context.new_page()
    await sign_in(page)
    await expect(page.get_by_role("heading", name="Connect a source")).to_be_visible()
    cookie = await session_cookie(context)
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/"
    assert cookie["secure"] is False  # the public URL is http here
    assert abs(cookie["expires"] - (time.time() + TWELVE_HOURS)) < 60


async def test_a_form_without_its_csrf_token_is_refused(page: Page) -> None:
    answer = await page.request.post("/console/sign-out", form={"csrf": "forged"})
    assert answer.status == 403
    assert "CSRF token" in await answer.text()
    sign_in = await page.request.post("/console/sign-in", form={"token": ADMIN_TOKEN})
    assert sign_in.status == 403
    assert "CSRF token" in await sign_in.text()
    await page.goto("/console")
    await expect(page.get_by_role("heading", name="Connect a source")).to_be_visible()


async def test_an_admin_call_without_its_csrf_token_is_refused(
    page: Page, gateway: RunningGateway
) -> None:
    source = await gateway.add_source_id("calendly", tenant="csrf", secret="s" * 32)
    path = f"/admin/sources/{source}/secret"
    token = await page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert token
    refused = await page.request.post(path, data={"secret": "t" * 32})
    assert refused.status == 403
    assert (await refused.json())["error"] == "csrf_failed"
    listed = await page.request.get("/admin/sources")
    assert listed.status == 200
    made = await page.request.post(path, data={"secret": "t" * 32}, headers={"X-CSRF-Token": token})
    assert made.status == 200, await made.text()


async def test_signing_out_ends_the_session(page: Page) -> None:
    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url("/console/sign-in")
    answer = await page.request.get("/admin/sources")
    assert answer.status == 401
