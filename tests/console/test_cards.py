"""The source cards: each state, and the buttons that connect, sync, test, disconnect."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest_asyncio
from playwright.async_api import Page, Route, expect

from gateway.console.pages import moment
from schemas.tables import sources as sources_table
from tests.console.browser import card, screenshot
from tests.emulators.suite import ProviderEmulators
from tests.fixtures.gateway import RunningGateway
from tests.gateway.connecting import holder, sources

STATES = {
    # status the store holds: what its card says
    "active": "Connected",
    "pending": "Not connected",
    "syncing": "Syncing",
    "error": "Error",
    "disconnected": "Disconnected",
}
COUNTS = ("processed", "created", "updated", "unchanged", "deleted", "failed")


async def pco_source(
    gateway: RunningGateway, emulators: ProviderEmulators, tenant: str, **credentials: str
) -> str:
    """A PCO source of a token connection: to a fresh organization unless `credentials`."""
    given = credentials or holder(emulators, "pco").token_credentials
    return await gateway.add_source_id("pco", tenant=tenant, credentials=given)


async def consent_page(route: Route) -> None:
    """The provider's page where the user allows access: its link goes where the
    emulator (which approves at once) would redirect, so the way back starts on the
    provider's site, as it does for a real user."""
    answer = await route.fetch(max_redirects=0)
    back = html.escape(answer.headers["location"])
    await route.fulfill(content_type="text/html", body=f'<a href="{back}">Allow</a>')


@pytest_asyncio.fixture
async def each_state(
    gateway: RunningGateway, emulators: ProviderEmulators
) -> AsyncIterator[dict[str, str]]:
    """One source in each state (status -> source id), removed afterwards (a syncing
    card makes every console page refresh itself)."""
    made: dict[str, str] = {}
    repository = gateway.app.state.context.sources
    for status in STATES:
        made[status] = await pco_source(gateway, emulators, "states")
        if status != "active":
            detail = "reauthorization_required" if status == "error" else None
            await repository.set_status(made[status], status, detail)
    yield made
    for source in made.values():
        assert (await gateway.admin.delete(f"/admin/sources/{source}")).status_code == 204


async def test_a_card_shows_each_state(page: Page, each_state: dict[str, str]) -> None:
    await page.goto("/console")
    for status, label in STATES.items():
        shown = card(page, each_state[status])
        await expect(shown.locator(".status")).to_have_text(label)
    error = card(page, each_state["error"])
    await expect(error.locator(".detail")).to_have_text("reauthorization_required")
    await expect(error.get_by_role("button", name="Retry")).to_be_visible()
    await expect(card(page, each_state["syncing"]).locator(".spinner")).to_be_attached()
    await expect(card(page, each_state["disconnected"]).get_by_role("button")).to_have_text(
        ["Connect", "Test"]
    )
    await screenshot(page, "states")


async def test_a_card_shows_its_last_delivery_and_offers_sync_where_there_is_an_import(
    page: Page, gateway: RunningGateway, emulators: ProviderEmulators
) -> None:
    pco = await pco_source(gateway, emulators, "deliveries")
    google = await gateway.add_source_id(
        "google", tenant="deliveries", credentials=holder(emulators, "google").token_credentials
    )
    delivered = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
    async with gateway.app.state.context.engine.begin() as connection:
        await connection.execute(
            sources_table.update()
            .where(sources_table.c.id == pco)
            .values(last_delivery_at=delivered)
        )
    await page.goto("/console")
    await expect(card(page, pco).locator(".last-delivery")).to_have_text(moment(delivered))
    await expect(card(page, google).locator(".last-delivery")).to_have_text("none yet")
    await expect(card(page, pco).get_by_role("button", name="Sync now")).to_be_visible()
    await expect(card(page, google).get_by_role("button", name="Test")).to_be_visible()
    await expect(card(page, google).get_by_role("button", name="Sync now")).to_have_count(0)
    for source in (pco, google):
        assert (await gateway.admin.delete(f"/admin/sources/{source}")).status_code == 204


async def test_connect_through_oauth_gives_a_connected_card(
    page: Page, gateway: RunningGateway, emulators: ProviderEmulators
) -> None:
    organization = emulators.pco.add_organization("Grace Chapel")
    emulators.pco.add_people(organization, 2)
    emulators.pco.oauth.approve(emulators.pco.account(organization))
    await page.route(emulators.authorize_url("pco") + "*", consent_page)
    await page.select_option('#connect select[name="provider"]', "pco")
    await page.fill('#connect input[name="tenant"]', "grace")
    await page.click('#connect button[type="submit"]')
    await page.get_by_role("link", name="Allow").click()
    await expect(page.get_by_role("status").first).to_have_text("Connected.")
    [connected] = [s for s in await sources(gateway) if s["tenant"] == "grace"]
    shown = card(page, connected["id"])
    await expect(shown.locator(".status")).to_have_text("Connected", timeout=30_000)
    await expect(shown.locator(".account")).to_have_text("Grace Chapel")


async def test_sync_now_shows_progress_to_the_final_counts(
    page: Page, gateway: RunningGateway, emulators: ProviderEmulators
) -> None:
    source = await pco_source(gateway, emulators, "sync")
    await page.goto("/console")
    shown = card(page, source)
    await shown.get_by_role("button", name="Sync now").click()
    await expect(shown.locator(".progress")).to_be_visible()
    await expect(shown.locator(".result")).to_have_text("Sync completed", timeout=30_000)
    last = (await gateway.admin.get(f"/admin/sources/{source}")).json()["last_sync"]
    assert last["items_created"] == 3
    final = " · ".join(f"{name} {last['items_' + name]}" for name in COUNTS)
    await expect(shown.locator(".progress-text")).to_have_text(final)
    await expect(shown.locator(".last-sync .counts")).to_have_text(final)


async def test_a_test_with_bad_credentials_gives_an_error_card(
    page: Page, gateway: RunningGateway, emulators: ProviderEmulators
) -> None:
    source = await pco_source(gateway, emulators, "wrong", app_id="nobody", secret="wrong")
    await page.goto("/console")
    await card(page, source).get_by_role("button", name="Test").click()
    shown = card(page, source)
    await expect(shown.locator(".status")).to_have_text("Error")
    await expect(shown.locator(".detail")).to_have_text("unauthorized")
    await expect(shown.get_by_role("button", name="Retry")).to_be_visible()


async def test_a_test_shows_the_count(
    page: Page, gateway: RunningGateway, emulators: ProviderEmulators
) -> None:
    source = await pco_source(gateway, emulators, "counted")
    await page.goto("/console")
    shown = card(page, source)
    await shown.get_by_role("button", name="Test").click()
    await expect(shown.locator(".result")).to_have_text(
        re.compile(r"^OK: First Church · 3 members \(\d+ ms\)$")
    )
    await expect(shown.locator(".account")).to_have_text("First Church")


async def test_disconnect_asks_first_then_shows_a_disconnected_card(
    page: Page, gateway: RunningGateway, emulators: ProviderEmulators
) -> None:
    source = await pco_source(gateway, emulators, "leaving")
    await page.goto("/console")
    shown = card(page, source)
    await shown.get_by_role("button", name="Disconnect").click()
    await page.locator("#confirm-disconnect").get_by_role("button", name="Cancel").click()
    await expect(shown.locator(".status")).to_have_text("Connected")
    await shown.get_by_role("button", name="Disconnect").click()
    await page.locator("#confirm-disconnect").get_by_role("button", name="Disconnect").click()
    await expect(card(page, source).locator(".status")).to_have_text("Disconnected")
    view = (await gateway.admin.get(f"/admin/sources/{source}")).json()
    assert (view["status"], view["has_credentials"]) == ("disconnected", False)


async def test_a_google_card_lists_its_channels_and_their_expiry(
    page: Page, gateway: RunningGateway, emulators: ProviderEmulators
) -> None:
    credentials = holder(emulators, "google").token_credentials
    source = await gateway.add_source_id("google", tenant="channels", credentials=credentials)
    await gateway.add_google_channel(source, "primary")
    expiries = await gateway.app.state.context.sources.channel_expiries([source])
    [(calendar, expires_at)] = expiries[source]
    await page.goto("/console")
    channels = card(page, source).locator("dd.channels")
    await expect(channels).to_have_text(f"{calendar} until {moment(expires_at)}")


async def test_rotate_secret_takes_the_new_one_and_keeps_the_old_for_a_while(
    page: Page, gateway: RunningGateway
) -> None:
    source = await gateway.add_source_id("calendly", tenant="rotating", secret="old-" * 8)
    await page.goto("/console")
    shown = card(page, source)
    await shown.get_by_role("button", name="Rotate secret").click()
    dialog = page.locator("#rotate-secret")
    await dialog.locator('input[name="secret"]').fill("new-" * 8)
    await dialog.get_by_role("button", name="Rotate").click()
    await expect(shown.locator(".result")).to_have_text(
        re.compile(r"^Secret rotated; the old one works until \d{4}-\d\d-\d\d \d\d:\d\d UTC\.$")
    )
    view = (await gateway.admin.get(f"/admin/sources/{source}")).json()
    assert view["previous_secret_valid_until"] is not None
    audit = (await gateway.admin.get(f"/admin/audit?source_id={source}")).json()["entries"]
    assert [(e["actor"], e["action"], e["outcome"]) for e in audit] == [
        ("console", "source.rotate_secret", "ok"),
        ("admin", "source.create", "ok"),
    ]
