"""Row versions: one integer that orders every write to a row.

A version is `lifecycle * LIFECYCLE_STEP + microseconds * 1000 + tiebreak`:

- `lifecycle` is 0 for live states and 1 for final ones (a delete, a Calendly
  cancellation). A final state outranks every live one, whatever the clocks say,
  so a late "created" never resurrects a tombstone.
- `microseconds` is the provider's own updated time, since the Unix epoch.
- `tiebreak` (0-999) comes from the event id, so two different events with the
  same time and key still order the same way in every delivery order.

Versions fit a signed 64-bit integer (`BIGINT`) until the year 2262.

An event with no provider time at all gets `untimed_version`: 1-999 (plus the
lifecycle), above a row part never written (0) and below every version with a time
(1000 and up), so it creates a row or changes an untimed one, but never overwrites
a write that carried a time, however late or often it is delivered.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

LIFECYCLE_STEP = 3 * 10**18
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def row_version(moment: datetime, event_id: str, *, final: bool = False) -> int:
    """The version of a write made by event `event_id` at provider time `moment`."""
    if moment.tzinfo is None:  # read as local time, as astimezone does
        moment = moment.astimezone(UTC)
    delta = moment - _EPOCH  # aware arithmetic applies the offset: no conversion needed
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    tiebreak = int.from_bytes(hashlib.sha256(event_id.encode()).digest()[:4], "big") % 1000
    return (LIFECYCLE_STEP if final else 0) + max(micros, 0) * 1000 + tiebreak


def untimed_version(event_id: str, *, final: bool = False) -> int:
    """The version of a write made by event `event_id`, which carries no provider time."""
    tiebreak = int.from_bytes(hashlib.sha256(event_id.encode()).digest()[:4], "big") % 999
    return (LIFECYCLE_STEP if final else 0) + 1 + tiebreak


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 string (or an aware datetime) as an aware UTC datetime; else None."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
