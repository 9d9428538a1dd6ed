"""A Planning Center `*.destroyed` document leaves a tombstone whatever its `attributes`
hold (absent, `{}`, null), and a late `created` does not lift it."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from consumers.apply import Applier
from schemas.store import members
from tests.store import events
from tests.store.events import at
from tests.store.rows import one

_ABSENT = object()
VARIANTS: dict[str, object] = {"absent": _ABSENT, "empty": {}, "null": None}


@pytest.mark.parametrize("variant", list(VARIANTS))
async def test_a_destroyed_person_is_a_tombstone_a_late_create_cannot_lift(
    engine: AsyncEngine, applier: Applier, variant: str
) -> None:
    document: dict[str, Any] = {
        "data": {"type": "Person", "id": "P1"},
        "meta": {"parent": {"type": "Person", "id": "P1"}},
    }
    if VARIANTS[variant] is not _ABSENT:
        document["data"]["attributes"] = VARIANTS[variant]
    gone = events.pco_document("church", "person.destroyed", at(5), document, "d-gone")
    await applier.apply([events.pco("church", "person.created", at(0), person_id="P1")])
    await applier.apply([gone])
    await applier.apply([events.pco("church", "person.created", at(9), person_id="P1")])
    row = await one(engine, members, "church")
    assert row["deleted_at"] is not None
    assert (row["first_name"], row["last_name"]) == (None, None)
