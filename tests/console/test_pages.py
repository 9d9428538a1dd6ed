"""The console's other pages: recent rejections, and dead letters with replay."""

from __future__ import annotations

from playwright.async_api import Page, expect

from consumers.dead_letter_table import DeadLetterTable
from gateway.bus.transport import EMBEDDED_GROUP
from schemas import BusRecord
from schemas.deadletter import DeadLetter
from tests.fixtures.gateway import RunningGateway
from tests.store import events


async def test_the_rejections_page_shows_a_refused_delivery(
    page: Page, gateway: RunningGateway
) -> None:
    source = await gateway.add_source_id("calendly", tenant="refused", secret="k" * 32)
    answer = await gateway.client.post(f"/webhooks/calendly/{source}", content=b"{}")
    assert answer.status_code == 401
    await page.get_by_role("link", name="Rejections").click()
    shown = page.locator("article.rejection", has_text=source)
    await expect(shown.locator("h3")).to_have_text(f"calendly · 401 {answer.json()['error']}")


async def test_a_dead_letter_is_replayed_from_its_page(page: Page, gateway: RunningGateway) -> None:
    event = events.calendly("letters", "invitee.created", events.at(0))
    record = BusRecord.from_event(event, gateway.settings.topic("calendly"))
    letter = DeadLetter(
        topic=record.topic,
        partition=0,
        offset=41,
        key=record.key,
        value=record.value,
        headers=record.headers,
        group=EMBEDDED_GROUP,
        attempts=3,
        error_class="OperationalError",
        error="the store was unreachable",
    )
    await DeadLetterTable(gateway.app.state.context.engine).park([letter])
    await page.get_by_role("link", name="Dead letters").click()
    shown = page.locator("article.letter", has_text="calendly.invitee.created")
    await expect(shown).to_contain_text("OperationalError: the store was unreachable")
    shown_id = await shown.get_attribute("data-letter")
    await shown.get_by_role("button", name="Replay").click()
    await expect(shown.locator(".result")).to_have_text("Replayed.")
    waiting = (await gateway.admin.get("/admin/dead-letters")).json()["dead_letters"]
    assert waiting == []
    again = await gateway.admin.post(f"/admin/dead-letters/{shown_id}/replay")
    assert (again.status_code, again.json()["error"]) == (404, "unknown_dead_letter")
