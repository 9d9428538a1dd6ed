"""What the console tests do in the browser: sign in, find a card, keep a screenshot."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import BrowserContext, Cookie, Locator, Page

from tests.fixtures.gateway import ADMIN_TOKEN

CHROMIUM = "/usr/bin/chromium"
"""Debian's Chromium (the Makefile installs it); Playwright downloads no browser."""
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "console"
COOKIE = "hookgate_console"


async def sign_in(page: Page, token: str = ADMIN_TOKEN) -> None:
    await page.goto("/console")
    await page.fill('input[name="token"]', token)
    async with page.expect_navigation():  # the console, or the sign-in page again
        await page.click('button[type="submit"]')


def card(page: Page, source_id: str) -> Locator:
    return page.locator(f'article.source[data-source="{source_id}"]')


async def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def session_cookie(context: BrowserContext) -> Cookie:
    found = [cookie for cookie in await context.cookies() if cookie["name"] == COOKIE]
    assert len(found) == 1, found
    return found[0]
