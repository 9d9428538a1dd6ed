"""Planning Center person merges → the merged-away member tombstoned.

PCO merges two people by deleting one (`person_to_remove_id`) without a
`person.destroyed`: the only word of it is `people.v2.events.person_merger.created`.
Its member row gets the tombstone a destroyed person gets (final version at the
merge's time), so it is deleted rather than left orphaned, and no late event of it
brings it back. The kept person changes through its own events.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from consumers.pco.handler import MEMBER_COLUMNS, MEMBER_KEY
from consumers.registry import HandlerRegistry, PreparedHandler
from consumers.upsert import upsert
from consumers.versions import parse_time, row_version
from schemas import CloudEvent, MalformedPayload
from schemas.store import members

EVENT_TYPES = ("pco.person_merger.created",)


def register(registry: HandlerRegistry) -> None:
    registry.register(EVENT_TYPES, MergerHandler())


class MergerHandler(PreparedHandler[dict[str, Any]]):
    def prepare(self, event: CloudEvent) -> dict[str, Any]:
        try:
            attributes = orjson.loads(event.data)["data"]["attributes"]
            removed = str(attributes["person_to_remove_id"])
        except (ValueError, KeyError, TypeError):
            raise MalformedPayload("The person merger names no `person_to_remove_id`.") from None
        moment = parse_time(attributes.get("created_at")) or event.time
        return {
            "tenant": event.tenant,
            "pco_person_id": removed,
            "first_name": None,
            "last_name": None,
            "status": None,
            "deleted_at": moment,
            "version": row_version(moment, event.id, final=True),
        }

    async def write(
        self, connection: AsyncConnection, prepared: Sequence[tuple[CloudEvent, dict[str, Any]]]
    ) -> None:
        await upsert(
            connection,
            members,
            [row for _, row in prepared],
            key=MEMBER_KEY,
            update=MEMBER_COLUMNS,
        )
