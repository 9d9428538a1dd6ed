"""Planning Center people → `pco.person.synced` (provider-apis.md §1).

`GET /people/v2/people?include=emails,phone_numbers&per_page=100&order=id` with
`where[id][gt]` at the last id seen: every page is at offset 0, so a large church
never pages into the stricter limit past offset 30,000, and a resumed sweep starts
right after its last committed page. Incremental adds `where[updated_at][gte]`.
Each person travels with the emails and phone numbers the page included for it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from consumers.imports.importer import Cursor, Deletions, Page, SyncScope, sync_event
from consumers.imports.jobs import SyncJob
from consumers.imports.paced import PacedApi
from consumers.versions import parse_time
from schemas import CloudEvent
from schemas.envelope import format_time
from schemas.store import members

PER_PAGE = 100


class PcoImporter:
    provider = "pco"
    deletions: Deletions | None = Deletions(members, "pco_person_id")

    def __init__(self, per_page: int = PER_PAGE) -> None:
        self._per_page = per_page

    async def page(self, api: PacedApi, scope: SyncScope, cursor: Cursor | None) -> Page:
        after = (cursor or {}).get("after_id")
        params = {
            "include": "emails,phone_numbers",
            "per_page": str(self._per_page),
            "order": "id",
        }
        if after is not None:
            params["where[id][gt]"] = str(after)
        if scope.since is not None:
            params["where[updated_at][gte]"] = format_time(scope.since)
        body = await api.get("/people/v2/people", params)
        people = [item for item in body.get("data") or [] if isinstance(item, dict)]
        owned: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for item in body.get("included") or []:
            person = (((item.get("relationships") or {}).get("person") or {}).get("data")) or {}
            if isinstance(person, dict) and person.get("id"):
                owned[str(person["id"])].append(item)
        events = [
            sync_event(
                scope.job,
                "pco.person.synced",
                subject=str(person["id"]),
                data={"data": person, "included": owned.get(str(person["id"]), [])},
                time=scope.now,
                version=str((person.get("attributes") or {}).get("updated_at")),
            )
            for person in people
        ]
        last = people[-1]["id"] if people else after
        more = len(people) >= self._per_page and bool((body.get("meta") or {}).get("next"))
        times = [parse_time((p.get("attributes") or {}).get("updated_at")) for p in people]
        watermark = max((t for t in times if t is not None), default=None)
        return Page(events, {"after_id": last} if more else None, len(people), watermark)

    def deleted_event(
        self, job: SyncJob, account: Mapping[str, Any], record_id: str, now: datetime
    ) -> CloudEvent:
        return sync_event(
            job,
            "pco.person.deleted",
            subject=record_id,
            data={"data": {"type": "Person", "id": record_id}},
            time=now,
            version="deleted",
            reason="reconciled",
        )
