"""GoHighLevel events with no time of GHL's own never overwrite a write that had one.

An untimed event is one with neither `timestamp` nor `dateUpdated`: its `dateAdded`
is the same for every update of a contact, and its arrival time grows with every
redelivery, so neither may order it against events that carry a time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from consumers.apply import Applier
from consumers.versions import LIFECYCLE_STEP, row_version, untimed_version
from schemas import CloudEvent, Delivery, samples
from schemas import ghl as ghl_schema
from schemas.store import contacts, ghl_appointments
from tests.store import events
from tests.store.events import at
from tests.store.rows import one

_UNTIMED = ("timestamp", "dateUpdated", "dateAdded")


def untimed(
    tenant: str, event: str, received: datetime, webhook_id: str, **changes: Any
) -> CloudEvent:
    """A GHL delivery without any time of GHL's, received at `received`."""
    body = orjson.loads(samples.ghl(event, now=received, webhook_id=webhook_id))
    for part in (body, body.get("appointment", {})):
        for name in _UNTIMED:
            part.pop(name, None)
    body |= changes
    delivery = Delivery(
        provider="ghl",
        source_id=f"src-ghl-{tenant}",
        tenant=tenant,
        headers={},
        body=orjson.dumps(body),
        received_at=received,
    )
    return ghl_schema.normalize(delivery).events[0]


async def test_an_untimed_update_changes_nothing_a_timed_one_wrote_in_either_order(
    engine: AsyncEngine, applier: Applier
) -> None:
    for order in ("timed first", "untimed first"):
        tenant = f"agency-{order.split()[0]}"
        timed = events.ghl(tenant, "ContactUpdate", at(2), tags=("customer",))
        late = untimed(tenant, "ContactUpdate", at(10), f"w-{tenant}", tags=["stale"])
        await applier.apply([events.ghl(tenant, "ContactCreate", at(0))])
        for event in (timed, late) if order == "timed first" else (late, timed):
            await applier.apply([event])
        assert (await one(engine, contacts, tenant))["tags"] == ["customer"], order


async def test_an_untimed_appointment_update_does_not_overwrite_a_timed_one(
    engine: AsyncEngine, applier: Applier
) -> None:
    tenant = "agency"
    await applier.apply([events.ghl(tenant, "AppointmentUpdate", at(2))])
    late = untimed(tenant, "AppointmentUpdate", at(10), "w-appointment")
    late_body = orjson.loads(late.data)
    late_body["appointment"]["appointmentStatus"] = "showed"
    late = late.model_copy(update={"data": orjson.dumps(late_body)})
    await applier.apply([late])
    assert (await one(engine, ghl_appointments, tenant))["status"] == "confirmed"


async def test_an_untimed_redelivery_after_the_ledger_forgot_it_keeps_newer_data(
    engine: AsyncEngine, applier: Applier
) -> None:
    tenant = "agency"
    first = untimed(tenant, "ContactUpdate", at(1), "w-once", tags=["first"])
    await applier.apply([first])
    await applier.apply([events.ghl(tenant, "ContactTagUpdate", at(2), tags=("newer",))])
    assert await applier.prune(at(60 * 24 * 365)) >= 2
    redelivered = untimed(tenant, "ContactUpdate", at(30), "w-once", tags=["first"])
    assert redelivered.id == first.id
    assert (await applier.apply([redelivered])).applied == 1
    assert (await one(engine, contacts, tenant))["tags"] == ["newer"]


async def test_an_untimed_create_creates_and_an_untimed_delete_still_deletes(
    engine: AsyncEngine, applier: Applier
) -> None:
    tenant = "agency"
    await applier.apply([untimed(tenant, "ContactCreate", at(0), "w-create", tags=["lead"])])
    created = await one(engine, contacts, tenant)
    assert (created["tags"], created["deleted_at"]) == (["lead"], None)
    await applier.apply([events.ghl(tenant, "ContactUpdate", at(3), tags=("customer",))])
    await applier.apply([untimed(tenant, "ContactDelete", at(5), "w-delete")])
    assert (await one(engine, contacts, tenant))["deleted_at"] == at(5)


def test_untimed_versions_sit_above_an_unwritten_part_and_below_every_timed_write() -> None:
    earliest = row_version(datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC), "any")
    for event_id in ("a", "b", "w-1", "0TkCdp9PfvLeWKYRRvIz", ""):
        assert 0 < untimed_version(event_id) < earliest
        assert LIFECYCLE_STEP < untimed_version(event_id, final=True) < LIFECYCLE_STEP + earliest
        assert untimed_version(event_id, final=True) > row_version(at(10**6), event_id)
