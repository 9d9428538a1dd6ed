"""Calendly scheduled events and their invitees → `calendly.invitee.synced` (§3).

`GET /scheduled_events?organization=…&min_start_time=<30 days ago>&sort=start_time:asc`
(active and canceled alike), 100 a page by `page_token`, and each event's invitees
(`GET /scheduled_events/{uuid}/invitees`, every page of them). Calendly filters by
start time only (no updated-since), so a sweep sees every event starting from 30
days ago on, whatever changed, and nothing of older events: a cancellation of an
event that started before the window reaches the store only by its webhook. An
incremental sweep covers the future only (from now). Calendly cancels rather than
deletes, so a sweep has nothing to tombstone: a canceled invitee comes as one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from consumers.imports.importer import Cursor, Deletions, Page, SyncScope, sync_event
from consumers.imports.jobs import SyncJob
from consumers.imports.paced import ApiError, PacedApi
from schemas import CloudEvent
from schemas.envelope import format_time

PAGE_SIZE = 100
PAST = timedelta(days=30)


class CalendlyImporter:
    provider = "calendly"
    deletions: Deletions | None = None

    async def page(self, api: PacedApi, scope: SyncScope, cursor: Cursor | None) -> Page:
        state = dict(cursor or {})
        organization = state.get("organization") or await organization_of(api, scope.account)
        state["organization"] = organization
        if "min_start_time" not in state:
            low = scope.now if scope.since is not None else scope.now - PAST
            state["min_start_time"] = format_time(low)
        params = {
            "organization": str(organization),
            "count": str(PAGE_SIZE),
            "min_start_time": state["min_start_time"],
            "sort": "start_time:asc",
        }
        if state.get("page_token"):
            params["page_token"] = str(state["page_token"])
        body = await api.get("/scheduled_events", params)
        scheduled = [item for item in body.get("collection") or [] if isinstance(item, dict)]
        events: list[CloudEvent] = []
        for meeting in scheduled:
            for invitee in await _invitees(api, str(meeting.get("uri", ""))):
                events.append(_synced(scope, meeting, invitee))
        token = (body.get("pagination") or {}).get("next_page_token")
        following = {**state, "page_token": token} if token else None
        return Page(events, following, len(events))

    def deleted_event(
        self, job: SyncJob, account: Mapping[str, Any], record_id: str, now: datetime
    ) -> CloudEvent:
        raise NotImplementedError("Calendly cancels; it does not delete")


async def organization_of(api: PacedApi, account: Mapping[str, Any]) -> str:
    """The organization to sweep: the source's account, else the token's user's."""
    known = account.get("organization") or account.get("id")
    if known:
        return str(known)
    user = (await api.get("/users/me")).get("resource") or {}
    organization = user.get("current_organization") if isinstance(user, dict) else None
    if not isinstance(organization, str) or not organization:
        raise ApiError("forbidden", "The Calendly source names no organization to import.")
    return organization


async def _invitees(api: PacedApi, event_uri: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    page: str | None = event_uri.rstrip("/") + "/invitees"
    params: dict[str, str] | None = {"count": str(PAGE_SIZE)}
    while page is not None:
        body = await api.get(page, params)
        found.extend(item for item in body.get("collection") or [] if isinstance(item, dict))
        following = (body.get("pagination") or {}).get("next_page")
        page, params = (following, None) if isinstance(following, str) else (None, None)
    return found


def _synced(scope: SyncScope, meeting: dict[str, Any], invitee: dict[str, Any]) -> CloudEvent:
    canceled = invitee.get("status") == "canceled"
    data = {
        "event": "invitee.canceled" if canceled else "invitee.created",
        "created_at": invitee.get("updated_at") or format_time(scope.now),
        "payload": {**invitee, "scheduled_event": meeting},
    }
    return sync_event(
        scope.job,
        "calendly.invitee.synced",
        subject=str(invitee.get("uri")),
        data=data,
        time=scope.now,
        version=f"{invitee.get('updated_at')}:{meeting.get('updated_at')}",
        partition=str(invitee.get("uri")),
    )
