"""Which GoHighLevel location a delivery belongs to, and whether a source may take it.

GHL signs every delivery with one global key, so a valid signature says "GHL sent
it", not "for this tenant": the payload's top-level `locationId` is the only thing
that ties a delivery to a tenant. A GHL source may be bound to its location
(`options.location_id`); the gateway asks `location_refusal` after the signature
verified and before anything is published.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

OPTION = "location_id"
"""The source option naming the GHL location a source is bound to."""


@dataclass(frozen=True, slots=True)
class Claimant:
    """A source bound to a location: deliveries naming it are that source's."""

    source_id: str
    tenant: str
    taking: bool
    """False once the source is disconnected: its location's deliveries are refused."""


def is_install(body: bytes) -> bool:
    """An `AppInstall`: acknowledged, nothing to publish (the OAuth connect makes the
    source of the location)."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    return isinstance(payload, dict) and payload.get("type") == "AppInstall"


def payload_location(body: bytes) -> str | None:
    """The top-level `locationId` of a delivery body, or None where there is none."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    location = payload.get("locationId") if isinstance(payload, dict) else None
    return location if isinstance(location, str) and location else None


def bound_location(options: Mapping[str, Any], account: Mapping[str, Any] | None) -> str | None:
    """The location a source holds: its `options.location_id`, else the location an OAuth
    connect learned (`account.id`: GHL's account is the location)."""
    own = source_location(options)
    if own is None and account and isinstance(account.get("id"), str) and account["id"]:
        return str(account["id"])
    return own


def route(
    body: bytes, *, source_id: str, own: str | None, claimed: Mapping[str, Claimant]
) -> Claimant | str | None:
    """Whose a verified delivery posted to `source_id`'s URL is.

    GHL's Marketplace app posts every location's deliveries to one URL, so a delivery
    naming a location another source holds is that source's (the `Claimant`), never the
    URL's; one naming no location, or the URL source's own, is the URL source's (None);
    otherwise `location_refusal` says why it is refused (a sentence).
    """
    location = payload_location(body)
    if location is None or location == own:
        return None
    holder = claimed.get(location)
    if holder is not None and holder.source_id != source_id:
        return holder
    return location_refusal(body, own=own, claimed=claimed)


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
