"""Calendly: create, reschedule, cancel, no-show end in the right `bookings` rows."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from consumers.apply import Applier
from schemas.store import bookings
from tests.store import events
from tests.store.events import at
from tests.store.rows import rows

EVENT = "https://api.calendly.com/scheduled_events/E1"
OLD = f"{EVENT}/invitees/OLD"
NEW = f"{EVENT}/invitees/NEW"


async def test_create_reschedule_cancel(engine: AsyncEngine, applier: Applier) -> None:
    tenant = "acme"
    start = at(60 * 24)
    await applier.apply(
        [events.calendly(tenant, "invitee.created", at(0), invitee_uri=OLD, event_uri=EVENT)]
    )
    (created,) = await rows(engine, bookings, tenant)
    assert created["status"] == "active"
    assert created["email"] == "ada@example.com"
    assert created["name"] == "Ada Lovelace"

    await applier.apply(
        [
            events.calendly(
                tenant,
                "invitee.canceled",
                at(10),
                invitee_uri=OLD,
                event_uri=EVENT,
                rescheduled_to=NEW,
            ),
            events.calendly(
                tenant,
                "invitee.created",
                at(10),
                invitee_uri=NEW,
                event_uri=EVENT,
                rescheduled_from=OLD,
                start_time=start,
            ),
        ]
    )
    await applier.apply(
        [
            events.calendly(
                tenant,
                "invitee.canceled",
                at(20),
                invitee_uri=NEW,
                event_uri=EVENT,
                rescheduled_from=OLD,  # an invitee keeps its `old_invitee` when canceled
                start_time=start,
                reason="Something came up",
            )
        ]
    )

    new, old = await rows(engine, bookings, tenant)
    assert old["invitee_uri"] == OLD
    assert old["status"] == "canceled"
    assert old["rescheduled_to"] == NEW
    assert old["canceled_at"] == at(10)
    assert new["rescheduled_from"] == OLD
    assert new["status"] == "canceled"
    assert new["canceled_at"] == at(20)
    assert new["cancel_reason"] == "Something came up"
    assert new["canceled_by"] == "Ada Lovelace"
    assert new["canceler_type"] == "invitee"
    assert new["rescheduled_to"] is None
    assert new["start_time"] == start
    assert new["event_uri"] == EVENT


async def test_cancel_before_create_stays_canceled(engine: AsyncEngine, applier: Applier) -> None:
    tenant = "late-create"
    canceled = events.calendly(tenant, "invitee.canceled", at(30), invitee_uri=OLD)
    created = events.calendly(tenant, "invitee.created", at(0), invitee_uri=OLD)
    await applier.apply([canceled])
    await applier.apply([created])
    (row,) = await rows(engine, bookings, tenant)
    assert row["status"] == "canceled"
    assert row["canceled_at"] == at(30)


async def test_no_show_marks_and_unmarks_without_touching_status(
    engine: AsyncEngine, applier: Applier
) -> None:
    tenant = "no-show"
    mark = events.calendly_no_show(tenant, "invitee_no_show.created", at(90), OLD)
    unmark = events.calendly_no_show(tenant, "invitee_no_show.deleted", at(95), OLD)
    await applier.apply([mark])  # before the invitee itself: a partial row
    (partial,) = await rows(engine, bookings, tenant)
    assert partial["no_show"] is True
    assert partial["status"] is None

    await applier.apply([events.calendly(tenant, "invitee.created", at(0), invitee_uri=OLD)])
    (marked,) = await rows(engine, bookings, tenant)
    assert marked["no_show"] is True
    assert marked["no_show_at"] == at(90)
    assert marked["status"] == "active"

    await applier.apply([unmark, mark])  # the older mark, redelivered late, changes nothing
    (unmarked,) = await rows(engine, bookings, tenant)
    assert unmarked["no_show"] is False
    assert unmarked["no_show_at"] is None
    assert unmarked["status"] == "active"


async def test_invitee_and_no_show_in_one_batch_each_keep_their_own_version(
    engine: AsyncEngine, applier: Applier
) -> None:
    """One statement writes both parts of a row; each part changes only where it is newer."""
    tenant = "one-batch"
    mark = events.calendly_no_show(tenant, "invitee_no_show.created", at(90), NEW)
    created = events.calendly(tenant, "invitee.created", at(0), invitee_uri=NEW)
    canceled = events.calendly(tenant, "invitee.canceled", at(30), invitee_uri=NEW)
    only_invitee = events.calendly(tenant, "invitee.created", at(0), invitee_uri=OLD)
    await applier.apply([mark, created, only_invitee])
    by_uri = {row["invitee_uri"]: row for row in await rows(engine, bookings, tenant)}
    assert (by_uri[NEW]["status"], by_uri[NEW]["no_show"]) == ("active", True)
    assert (by_uri[OLD]["status"], by_uri[OLD]["no_show"]) == ("active", False)

    unmark = events.calendly_no_show(tenant, "invitee_no_show.deleted", at(95), NEW)
    late_mark = events.calendly_no_show(tenant, "invitee_no_show.created", at(91), OLD)
    old_create = events.calendly(tenant, "invitee.created", at(-5), invitee_uri=OLD)
    await applier.apply([canceled, unmark, late_mark, old_create])
    by_uri = {row["invitee_uri"]: row for row in await rows(engine, bookings, tenant)}
    assert (by_uri[NEW]["status"], by_uri[NEW]["no_show"]) == ("canceled", False)
    assert by_uri[NEW]["canceled_at"] == at(30)
    assert (by_uri[OLD]["status"], by_uri[OLD]["no_show"]) == ("active", True)
    assert by_uri[OLD]["no_show_at"] == at(91)
