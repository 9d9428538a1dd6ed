"""What every provider's importer has in common: a page of records as sync events.

An importer reads one page at a time from where its cursor says and returns the
page's records as `….synced` CloudEvents (`ce_syncid` set), the cursor after it
(None: the sweep is done), and how many provider records it read. The cursor is
JSON, committed with the page, so any process can resume the sweep. An importer
whose provider deletes records also says which table holds them and makes the
`….deleted` event of a row a full sync did not see.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import orjson
from sqlalchemy import Table

from consumers.imports.jobs import SyncJob
from consumers.imports.paced import PacedApi
from schemas import CloudEvent
from schemas.envelope import digest_id, source_uri

Cursor = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Page:
    events: list[CloudEvent]
    cursor: Cursor | None
    """Where the next page starts; None when this was the last."""
    processed: int
    watermark: datetime | None = None
    """The latest provider update time among the page's records: an incremental sync
    starts from the last completed sync's, in the provider's own clock."""


@dataclass(frozen=True, slots=True)
class Deletions:
    """Where a provider's imported records live, for reconciliation: the `table`
    (keyed by `tenant` and `id_column`, a tombstone sets `deleted_at`)."""

    table: Table
    id_column: str


@dataclass(frozen=True, slots=True)
class SyncScope:
    """What an importer needs to know of the sync and its source."""

    job: SyncJob
    account: Mapping[str, Any]
    since: datetime | None
    """Incremental: records changed since (the last completed sync's watermark)."""
    now: datetime
    extra: Mapping[str, Any] = field(default_factory=dict)


class Importer(Protocol):
    provider: str
    deletions: Deletions | None

    async def page(self, api: PacedApi, scope: SyncScope, cursor: Cursor | None) -> Page: ...

    def deleted_event(
        self, job: SyncJob, account: Mapping[str, Any], record_id: str, now: datetime
    ) -> CloudEvent:
        """The `….deleted` (`ce_reason=reconciled`) event of a row the sync did not see."""
        ...


def sync_event(
    job: SyncJob,
    event_type: str,
    *,
    subject: str,
    data: Any,
    time: datetime,
    version: str,
    partition: str | None = None,
    reason: str | None = None,
) -> CloudEvent:
    """A sync's event: its id is stable for the same record at the same version in the
    same sync, so a page read again after a resume is applied (and counted) once."""
    return CloudEvent(
        id=digest_id(job.id, event_type, subject, version),
        source=source_uri(job.provider, job.source_id),
        type=event_type,
        time=time,
        subject=subject,
        tenant=job.tenant,
        provider=job.provider,
        partitionkey=f"{job.tenant}:{partition or subject}",
        data=orjson.dumps(data),
        syncid=job.id,
        reason=reason,
    )
