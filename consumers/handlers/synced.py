"""Imported records (`….synced`) and reconciled deletions (`….deleted`), counted.

An import publishes each record it fetched as `{provider}.{resource}.synced` and a
completed full sync each row it did not see as `{provider}.{resource}.deleted`
(`ce_reason=reconciled`), all with `ce_syncid`. These types have handlers of their
own, so the webhook types' path does no extra work: each wraps the provider's
handler (`prepare` turns a synced record into the rows a webhook of it would write,
`write` is the provider's), under the same version guards, and around it reads the
rows' versions before the write, in the same transaction, to say what the write did
to each: `created` (no row, or only the placeholder an email made before its
person), `updated` (the record's version is newer), `unchanged` (the row was as new
or newer: a webhook got there first), `deleted` (a live row tombstoned). The counts
are added to the sync's row in the same transaction, and each record's key to
`sync_seen`, so they are exact: the ledger lets each event through once.

A synced record's row version takes its tie-break from the record (its id and
updated time), not from the event id, so importing a record again at the same
updated time writes the same version, and the guard answers `unchanged`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from consumers.bookings.handler import BookingHandler
from consumers.calendly.handler import CalendlyHandler
from consumers.ghl.handler import GhlHandler
from consumers.pco.handler import PcoHandler
from consumers.registry import Chained, HandlerRegistry, PreparedHandler
from consumers.upsert import insert_missing, keys_in
from schemas import CloudEvent, MalformedPayload
from schemas.store import bookings, contacts, members
from schemas.sync_store import sync_seen, syncs

CREATED, UPDATED, UNCHANGED, DELETED, FAILED = (
    "created",
    "updated",
    "unchanged",
    "deleted",
    "failed",
)
RECONCILED = "reconciled"


@dataclass(frozen=True, slots=True)
class Synced:
    """What one sync event writes: the provider handler's prepared items, and the row
    (its id in the table, the version written) by which the outcome is read."""

    record_id: str
    version: int
    deleted: bool
    parts: list[tuple[CloudEvent, Any]] = field(default_factory=list)
    """The webhook-shaped events the record became, each with its prepared item."""
    failed: bool = False
    """The record could not be read as its provider's handler reads it: counted in
    `items_failed` (and applied, so the sync does not wait for it), nothing written."""


Adapt = Callable[[CloudEvent], tuple[list[CloudEvent], bool]]
"""A sync event as the webhook events its provider's handler takes; whether it deletes."""


class CountedSync(PreparedHandler[Synced]):
    """One provider's sync events: written by `inner`, counted per sync."""

    def __init__(
        self,
        inner: PreparedHandler[Any],
        table: Table,
        id_column: str,
        adapt: Adapt,
        version_of: Callable[[Any], int],
    ) -> None:
        self._inner = inner
        self._table = table
        self._id = table.c[id_column]
        self._adapt = adapt
        self._version_of = version_of

    def prepare(self, event: CloudEvent) -> Synced:
        try:
            events, deleted = self._adapt(event)
            parts = [(each, self._inner.prepare(each)) for each in events]
        except (MalformedPayload, ValueError, KeyError, TypeError, AttributeError):
            return Synced(record_id=event.subject, version=0, deleted=False, failed=True)
        return Synced(
            record_id=event.subject,
            version=self._version_of(parts[0][1]),
            deleted=deleted,
            parts=parts,
        )

    async def write(
        self, connection: AsyncConnection, prepared: Sequence[tuple[CloudEvent, Synced]]
    ) -> None:
        before = await self._versions(connection, {(e.tenant, s.record_id) for e, s in prepared})
        await self._inner.write(connection, [part for _, item in prepared for part in item.parts])
        counts: dict[str, Counter[str]] = defaultdict(Counter)
        seen: list[dict[str, str]] = []
        for event, item in prepared:
            key = (event.tenant, item.record_id)
            current = before.get(key)
            outcome = FAILED if item.failed else _outcome(current, item)
            if outcome in (CREATED, UPDATED, DELETED):
                before[key] = (item.version, item.deleted)
            sync_id = event.syncid or ""
            counts[sync_id][outcome] += 1
            if not item.deleted and not item.failed:
                seen.append({"sync_id": sync_id, "item_key": item.record_id})
        await insert_missing(connection, sync_seen, seen, key=("sync_id", "item_key"))
        for sync_id, counted in counts.items():
            await connection.execute(
                update(syncs)
                .where(syncs.c.id == sync_id)
                .values(
                    items_created=syncs.c.items_created + counted[CREATED],
                    items_updated=syncs.c.items_updated + counted[UPDATED],
                    items_unchanged=syncs.c.items_unchanged + counted[UNCHANGED],
                    items_deleted=syncs.c.items_deleted + counted[DELETED],
                    items_failed=syncs.c.items_failed + counted[FAILED],
                    items_applied=syncs.c.items_applied + sum(counted.values()),
                )
            )

    async def _versions(
        self, connection: AsyncConnection, keys: set[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[int, bool] | None]:
        table = self._table
        found: dict[tuple[str, str], tuple[int, bool] | None] = {}
        columns = (table.c.tenant, self._id)
        deleted = table.c.deleted_at if "deleted_at" in table.c else table.c.canceled_at
        for condition in keys_in(connection, columns, sorted(keys)):
            query = select(table.c.tenant, self._id, table.c.version, deleted).where(condition)
            for tenant, record_id, version, gone in await connection.execute(query):
                found[(tenant, record_id)] = (int(version), gone is not None)
        return found


def _outcome(current: tuple[int, bool] | None, item: Synced) -> str:
    if item.deleted:
        if current is None or current[1] or current[0] >= item.version:
            return UNCHANGED
        return DELETED
    if current is None or current[0] == 0:
        return CREATED
    return UPDATED if item.version > current[0] else UNCHANGED


def _stable_id(event: CloudEvent, updated_at: object) -> str:
    """The id a synced record's rows take their version's tie-break from."""
    return f"sync:{event.type.rpartition('.')[0]}:{event.subject}:{updated_at}"


# ---- Planning Center ---------------------------------------------------------------


def _pco(event: CloudEvent) -> tuple[list[CloudEvent], bool]:
    """`pco.person.synced`: `{data: person, included: [emails, phone numbers]}` → one
    person event and one per email and phone; `pco.person.deleted`: a destroyed person."""
    if event.type == "pco.person.deleted":
        return [event.model_copy(update={"type": "pco.person.destroyed"})], True
    document = orjson.loads(event.data)
    person = document["data"]
    stable = _stable_id(event, person.get("attributes", {}).get("updated_at"))
    events = [
        event.model_copy(
            update={
                "type": "pco.person.updated",
                "id": stable,
                "data": orjson.dumps({"data": person}),
            }
        )
    ]
    for resource in document.get("included") or []:
        kind = {"Email": "email", "PhoneNumber": "phone_number"}.get(resource.get("type"))
        if kind is None:
            continue
        events.append(
            event.model_copy(
                update={
                    "type": f"pco.{kind}.updated",
                    "id": _stable_id(
                        event,
                        f"{resource.get('id')}:{resource.get('attributes', {}).get('updated_at')}",
                    ),
                    "data": orjson.dumps({"data": resource}),
                }
            )
        )
    return events, False


def _pco_version(prepared: Any) -> int:
    return int(prepared.row["version"])


# ---- GoHighLevel ----------------------------------------------------------------------


def _ghl(event: CloudEvent) -> tuple[list[CloudEvent], bool]:
    if event.type == "ghl.contact.deleted":
        return [event], True
    contact = orjson.loads(event.data)
    stable = _stable_id(event, contact.get("dateUpdated"))
    return [event.model_copy(update={"type": "ghl.contact.updated", "id": stable})], False


def _ghl_version(prepared: Any) -> int:
    return int(prepared.contact["version"])


# ---- Calendly -------------------------------------------------------------------------


def _calendly(event: CloudEvent) -> tuple[list[CloudEvent], bool]:
    document = orjson.loads(event.data)
    canceled = document.get("event") == "invitee.canceled"
    kind = "calendly.invitee.canceled" if canceled else "calendly.invitee.created"
    stable = _stable_id(event, document.get("payload", {}).get("updated_at"))
    return [event.model_copy(update={"type": kind, "id": stable})], False


def _calendly_version(prepared: Any) -> int:
    """Of the bookings row the chained handlers' first (Calendly's) prepared."""
    return int(prepared[0][1]["version"])


def register(registry: HandlerRegistry) -> None:
    """Sync events (those with `ce_syncid`) go to these, whatever handles their type
    without one (`ghl.contact.deleted` is also a webhook's)."""
    registry.register_synced(
        ("pco.person.synced", "pco.person.deleted"),
        CountedSync(PcoHandler(), members, "pco_person_id", _pco, _pco_version),
    )
    registry.register_synced(
        ("ghl.contact.synced", "ghl.contact.deleted"),
        CountedSync(GhlHandler(), contacts, "ghl_contact_id", _ghl, _ghl_version),
    )
    registry.register_synced(
        ("calendly.invitee.synced",),
        CountedSync(
            Chained(CalendlyHandler(), BookingHandler()),
            bookings,
            "invitee_uri",
            _calendly,
            _calendly_version,
        ),
    )
