"""Calendly event types (the "session types" a booking is made for), read with a
source's credentials: `GET /event_types?organization=…` (`event_types:read`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from consumers.calendly.imports import organization_of
from consumers.imports.paced import PacedApi
from consumers.oauth.api import ApiError

PAGE_SIZE = 100
MAX_PAGES = 20


async def event_types(api: PacedApi, account: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every event type of the source's organization (`uri`, `name`, `slug`,
    `duration`, `scheduling_url`, `active`), all pages."""
    params: dict[str, str] | None = {
        "organization": await organization_of(api, account),
        "count": str(PAGE_SIZE),
    }
    page: str | None = "/event_types"
    found: list[dict[str, Any]] = []
    for _ in range(MAX_PAGES):
        if page is None:
            break
        body = await api.get(page, params)
        found += [_summary(item) for item in body.get("collection") or [] if isinstance(item, dict)]
        following = (body.get("pagination") or {}).get("next_page")
        page, params = (
            (following, None) if isinstance(following, str) and following else (None, None)
        )
    return found


async def event_type(api: PacedApi, uri: str) -> dict[str, Any]:
    """One event type by its URI (`ApiError` `not_found` if Calendly has none). Only its
    last segment is used, on the source's API base: the source's token never goes to
    a host an admin request named."""
    uuid = uri.rstrip("/").rsplit("/", 1)[-1]
    if not uuid or not uuid.replace("-", "").isalnum():
        raise ApiError("not_found", "The event type URI names no Calendly event type.")
    try:
        resource = (await api.get(f"/event_types/{uuid}")).get("resource")
    except ApiError as exc:
        if exc.status == 404:
            raise ApiError("not_found", "Calendly has no such event type.", 404) from None
        raise
    if not isinstance(resource, dict) or not isinstance(resource.get("scheduling_url"), str):
        raise ApiError("not_found", "Calendly has no such event type.")
    return _summary(resource)


def _summary(item: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "uri": item.get("uri"),
        "name": item.get("name"),
        "slug": item.get("slug"),
        "duration": item.get("duration"),
        "scheduling_url": item.get("scheduling_url"),
        "active": item.get("active"),
    }
