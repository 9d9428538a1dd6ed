"""GoHighLevel contacts → `ghl.contact.synced` (provider-apis.md §2).

`POST /contacts/search` for the source's location, 100 a page, sorted by
`dateAdded` ascending and paged with the `searchAfter` cursor each contact carries
(never `page`, which stops at 10,000 records). Incremental filters
`dateUpdated >= since`. A contact is published as the search gives it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from consumers.imports.importer import Cursor, Deletions, Page, SyncScope, sync_event
from consumers.imports.jobs import SyncJob
from consumers.imports.paced import ApiError, PacedApi
from consumers.versions import parse_time
from schemas import CloudEvent
from schemas.envelope import format_time
from schemas.store import contacts

PAGE_LIMIT = 100


def location_of(account: Mapping[str, Any]) -> str:
    location = account.get("location_id") or account.get("id")
    if not location:
        raise ApiError("forbidden", "The GHL source names no location to import.")
    return str(location)


class GhlImporter:
    provider = "ghl"
    deletions: Deletions | None = Deletions(contacts, "ghl_contact_id")

    def __init__(self, page_limit: int = PAGE_LIMIT) -> None:
        self._limit = page_limit

    async def page(self, api: PacedApi, scope: SyncScope, cursor: Cursor | None) -> Page:
        location = location_of(scope.account)
        body: dict[str, Any] = {
            "locationId": location,
            "pageLimit": self._limit,
            "sort": [{"field": "dateAdded", "direction": "asc"}],
        }
        after = (cursor or {}).get("search_after")
        if after is not None:
            body["searchAfter"] = after
        if scope.since is not None:
            since_ms = int(scope.since.timestamp() * 1000)
            body["filters"] = [
                {"field": "dateUpdated", "operator": "range", "value": {"gte": since_ms}}
            ]
        answer = await api.post("/contacts/search", body)
        found = [item for item in answer.get("contacts") or [] if isinstance(item, dict)]
        events = []
        for contact in found:
            data = {k: v for k, v in contact.items() if k != "searchAfter"}
            data["type"] = "ContactUpdate"
            data.setdefault("locationId", location)
            events.append(
                sync_event(
                    scope.job,
                    "ghl.contact.synced",
                    subject=str(contact.get("id")),
                    data=data,
                    time=scope.now,
                    version=str(contact.get("dateUpdated")),
                )
            )
        last = found[-1].get("searchAfter") if found else None
        more = len(found) >= self._limit and last is not None
        times = [parse_time(contact.get("dateUpdated")) for contact in found]
        watermark = max((t for t in times if t is not None), default=None)
        return Page(events, {"search_after": last} if more else None, len(found), watermark)

    def deleted_event(
        self, job: SyncJob, account: Mapping[str, Any], record_id: str, now: datetime
    ) -> CloudEvent:
        data = {
            "type": "ContactDelete",
            "locationId": location_of(account),
            "id": record_id,
            "timestamp": format_time(now),
        }
        return sync_event(
            job,
            "ghl.contact.deleted",
            subject=record_id,
            data=data,
            time=now,
            version="deleted",
            reason="reconciled",
        )
