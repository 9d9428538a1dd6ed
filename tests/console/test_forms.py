"""The add-source form drawn from `GET /admin/providers`, and the page on a phone."""

from __future__ import annotations

from playwright.async_api import Browser, Page, expect

from tests.console.browser import sign_in
from tests.emulators.suite import ProviderEmulators
from tests.fixtures.gateway import RunningGateway
from tests.gateway.connecting import holder, sources


async def test_the_add_source_form_is_drawn_from_the_providers_schemas(
    page: Page, gateway: RunningGateway
) -> None:
    await page.goto("/console")
    await page.locator("#add-source summary").click()
    await page.locator("#add-source select").select_option("stripe")
    form = page.locator("#add-source-form")
    await expect(form.locator('input[name="secret_key"]')).to_have_attribute("type", "password")
    await expect(form.locator('input[name="refund_on_cancel"]')).to_have_attribute(
        "type", "checkbox"
    )
    await form.locator('input[name="tenant"]').fill("drawn")
    await form.locator('input[name="signing_secret"]').fill("whsec_" + "s" * 24)
    await form.locator('input[name="secret_key"]').fill("sk_test_" + "k" * 24)
    await form.locator('input[name="refund_on_cancel"]').check()
    await form.get_by_role("button", name="Add").click()
    shown = page.locator('article.source[data-tenant="drawn"]')
    await expect(shown.locator(".status")).to_have_text("Connected")
    [made] = [s for s in await sources(gateway) if s["tenant"] == "drawn"]
    assert await shown.get_attribute("data-source") == made["id"]
    assert (made["provider"], made["has_secret"], made["has_credentials"]) == ("stripe", True, True)
    assert made["options"] == {"refund_on_cancel": True}


async def test_a_refused_source_says_which_field(page: Page) -> None:
    await page.goto("/console")
    await page.locator("#add-source summary").click()
    await page.locator("#add-source select").select_option("stripe")
    form = page.locator("#add-source-form")
    await form.locator('input[name="tenant"]').fill("refused")
    await form.locator('input[name="secret_key"]').fill("pk_live_publishable")
    await form.get_by_role("button", name="Add").click()
    await expect(page.locator("#notice")).to_contain_text("secret_key")


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
