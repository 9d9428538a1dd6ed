"""The add-source form drawn from `GET /admin/providers`, and the page on a phone."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Browser, Page, Route, expect

from tests.console.browser import sign_in
from tests.emulators.suite import ProviderEmulators
from tests.fixtures.gateway import RunningGateway
from tests.gateway.connecting import holder, sources

PCO_TEMPLATE: dict[str, Any] = {
    "name": "pco",
    "auth": ["oauth", "token"],
    "credentials": {
        "type": "object",
        "properties": {
            "app_id": {"type": "string", "title": "App Id"},
            "secret": {
                "type": "string",
                "title": "Secret",
                "format": "password",
                "writeOnly": True,
            },
        },
        "required": ["app_id", "secret"],
    },
    "options": {
        "type": "object",
        "properties": {
            "import_people": {"type": "boolean", "title": "Import People"},
            "page_size": {"type": "integer", "title": "Page Size"},
        },
    },
    "events": ["pco.person.created"],
    "tables": ["members"],
}
"""A provider's template as `GET /admin/providers` gives it (pydantic's JSON Schemas)."""


async def providers_answer(route: Route) -> None:
    await route.fulfill(json={"providers": [PCO_TEMPLATE]})


async def test_the_add_source_form_is_drawn_from_the_providers_schemas(
    page: Page, gateway: RunningGateway, emulators: ProviderEmulators
) -> None:
    await page.route("**/admin/providers", providers_answer)
    await page.goto("/console")
    form = page.locator("#add-source-form")
    await expect(form.locator('input[name="secret"]')).to_have_attribute("type", "password")
    await expect(form.locator('input[name="import_people"]')).to_have_attribute("type", "checkbox")
    credentials = holder(emulators, "pco").token_credentials
    await form.locator('input[name="tenant"]').fill("drawn")
    await form.locator('input[name="app_id"]').fill(credentials["app_id"])
    await form.locator('input[name="secret"]').fill(credentials["secret"])
    await form.locator('input[name="import_people"]').check()
    await form.locator('input[name="page_size"]').fill("25")
    await form.get_by_role("button", name="Add").click()
    shown = page.locator('article.source[data-tenant="drawn"]')
    await expect(shown.locator(".status")).to_have_text("Connected")
    [made] = [s for s in await sources(gateway) if s["tenant"] == "drawn"]
    assert await shown.get_attribute("data-source") == made["id"]
    assert made["has_credentials"] is True
    assert made["options"] == {"import_people": True, "page_size": 25}


async def test_without_provider_templates_there_is_no_add_form(page: Page) -> None:
    await page.route("**/admin/providers", lambda route: route.fulfill(status=404, json={}))
    await page.goto("/console")
    await expect(page.get_by_role("heading", name="Connect a source")).to_be_visible()
    await expect(page.locator("#add-source")).to_be_hidden()


async def test_on_a_phone_the_cards_are_one_column(
    browser: Browser, gateway: RunningGateway, emulators: ProviderEmulators
) -> None:
    for tenant in ("phone-a", "phone-b"):
        await gateway.add_source_id(
            "pco", tenant=tenant, credentials=holder(emulators, "pco").token_credentials
        )
    phone = await browser.new_context(
        base_url=gateway.base_url, viewport={"width": 390, "height": 844}, is_mobile=True
    )
    try:
        page = await phone.new_page()
        await sign_in(page)
        boxes = [await c.bounding_box() for c in await page.locator("article.source").all()]
        lefts = {box["x"] for box in boxes if box is not None}
        assert len(boxes) >= 2
        assert len(lefts) == 1, "one column: every card starts at the same x"
        assert all(box is not None and box["width"] <= 390 for box in boxes)
    finally:
        await phone.close()
