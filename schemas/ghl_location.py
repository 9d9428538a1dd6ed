"""Which GoHighLevel location a delivery belongs to, and whether a source may take it.

GHL signs every delivery with one global key, so a valid signature says "GHL sent
it", not "for this tenant": the payload's top-level `locationId` is the only thing
that ties a delivery to a tenant. A GHL source may be bound to its location
(`options.location_id`); the gateway asks `location_refusal` after the signature
verified and before anything is published.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import orjson

OPTION = "location_id"
"""The source option naming the GHL location a source is bound to."""


def payload_location(body: bytes) -> str | None:
    """The top-level `locationId` of a delivery body, or None where there is none."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    location = payload.get("locationId") if isinstance(payload, dict) else None
    return location if isinstance(location, str) and location else None


def source_location(options: Mapping[str, Any]) -> str | None:
    """The location a source is bound to (`options.location_id`), or None when unbound.

    A `location_id` that names no location (blank, or not a string) binds the source to
    none: every delivery naming a location is refused, rather than the source taking
    any tenant's, until an operator fixes it.
    """
    location = options.get(OPTION)
    if location is None:
        return None
    return location.strip() if isinstance(location, str) else ""


def location_refusal(body: bytes, *, own: str | None, claimed: Collection[str]) -> str | None:
    """Why a verified delivery must not be taken by this source, or None when it may.

    `own`: the source's location, when bound: a delivery naming another is refused.
    `claimed`: the locations GHL sources are bound to: an unbound source refuses a
    delivery for one of them, so a delivery posted to the wrong URL cannot land in
    another tenant's store. A delivery naming no location is left to the schema.
    """
    location = payload_location(body)
    if location is None:
        return None
    if own is not None:
        if location == own:
            return None
        return (
            "The delivery is for another GoHighLevel location than the one this source "
            "is bound to (options.location_id)."
        )
    if location in claimed:
        return (
            "The delivery is for a GoHighLevel location another source is bound to; "
            "post it to that source's URL."
        )
    return None
