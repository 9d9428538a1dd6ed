"""One served gateway (the serving app, pointed at the provider emulators) and one
headless Chromium for all the console tests; each test gets its own browser context
(cookies), and finds its own sources by id or tenant."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from gateway.runtime.serve import build_app
from tests.console.browser import CHROMIUM, screenshot, sign_in
from tests.emulators.suite import ProviderEmulators
from tests.fixtures.gateway import RunningGateway, running_gateway
from tests.fixtures.net import serve_on_loopback
from tests.gateway.connecting import connect_settings


@pytest_asyncio.fixture(scope="package")
async def emulators() -> AsyncIterator[ProviderEmulators]:
    """Served on loopback but named `localhost`: another site than the gateway's
    127.0.0.1, as a real provider is (SameSite=Strict cookies stay behind on the way back
    from its authorization page)."""
    served = ProviderEmulators()
    async with serve_on_loopback(served.app) as base:
        served.served_at(base.replace("127.0.0.1", "localhost"))
        yield served


@pytest_asyncio.fixture(scope="package")
async def gateway(
    tmp_path_factory: pytest.TempPathFactory, emulators: ProviderEmulators
) -> AsyncIterator[RunningGateway]:
    settings = connect_settings(tmp_path_factory.mktemp("console"), emulators)
    async with running_gateway(settings, build_app) as running:
        yield running


@pytest_asyncio.fixture(scope="package")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        await launched.close()


@pytest_asyncio.fixture
async def context(browser: Browser, gateway: RunningGateway) -> AsyncIterator[BrowserContext]:
    made = await browser.new_context(base_url=gateway.base_url)
    made.set_default_timeout(15_000)
    yield made
    await made.close()


@pytest_asyncio.fixture
async def page(context: BrowserContext, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    """A signed-in console page; its screenshot is kept under tests/artifacts/console/."""
    opened = await context.new_page()
    await sign_in(opened)
    yield opened
    await screenshot(opened, request.node.name)
