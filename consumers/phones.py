"""Phone numbers to E.164, with each source's default region for national numbers."""

from __future__ import annotations

from collections.abc import Iterable

import orjson
import phonenumbers
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from schemas.tables import sources

DEFAULT_REGION = "US"


def to_e164(raw: str | None, region: str = DEFAULT_REGION) -> str | None:
    """`raw` in E.164, or None when it is not a possible phone number."""
    if not raw:
        return None
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def source_id(source: str) -> str:
    """The hookgate source id in a CloudEvent `source` (`urn:hookgate:{provider}:{id}`)."""
    return source.split(":", 3)[3] if source.startswith("urn:hookgate:") else source


async def default_regions(
    connection: AsyncConnection, event_sources: Iterable[str]
) -> dict[str, str]:
    """Each CloudEvent source's default phone region: `options.default_region`, else US."""
    wanted = {source: source_id(source) for source in set(event_sources)}
    if not wanted:
        return {}
    rows = await connection.execute(
        select(sources.c.id, sources.c.options).where(sources.c.id.in_(set(wanted.values())))
    )
    by_id = {row.id: _region(row.options) for row in rows}
    return {source: by_id.get(sid, DEFAULT_REGION) for source, sid in wanted.items()}


def _region(options: str | None) -> str:
    try:
        parsed = orjson.loads(options or "{}")
    except orjson.JSONDecodeError:
        return DEFAULT_REGION
    region = parsed.get("default_region") if isinstance(parsed, dict) else None
    return region.upper() if isinstance(region, str) and len(region) == 2 else DEFAULT_REGION
