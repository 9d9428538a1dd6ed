"""Row versions: one integer that orders every write to a row.

A version is `lifecycle * LIFECYCLE_STEP + microseconds * 1000 + tiebreak`:

- `lifecycle` is 0 for live states and 1 for final ones (a delete, a Calendly
  cancellation). A final state outranks every live one, whatever the clocks say,
  so a late "created" never resurrects a tombstone.
- `microseconds` is the provider's own updated time, since the Unix epoch.
- `tiebreak` (0-999) comes from the event id, so two different events with the
  same time and key still order the same way in every delivery order.

Times are clamped to the version's range: before the epoch counts as the epoch,
after `LATEST_VERSION_TIME` (2065-01-24) as that instant, so a live version stays
below `LIFECYCLE_STEP` (a final one keeps outranking it) and a final one below
2 * `LIFECYCLE_STEP`, far inside a signed 64-bit integer (`BIGINT`) whatever time an
event carries. The edge refuses provider times outside 1970-2200
(`schemas.envelope.ProviderTime`); the clamp is for events already on the bus.

An event with no provider time at all gets `untimed_version`: 1-999 (plus the
lifecycle), above a row part never written (0) and below every version with a time
(1000 and up), so it creates a row or changes an untimed one, but never overwrites
a write that carried a time, however late or often it is delivered.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

LIFECYCLE_STEP = 3 * 10**18
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_MICROS = LIFECYCLE_STEP // 1000 - 1
LATEST_VERSION_TIME = _EPOCH + timedelta(microseconds=_MAX_MICROS)
"""Later provider times give the same version as this one (but the tiebreak)."""


def row_version(moment: datetime, event_id: str, *, final: bool = False) -> int:
    """The version of a write made by event `event_id` at provider time `moment`."""
    if moment.tzinfo is None:  # read as local time, as astimezone does
        try:
            moment = moment.astimezone(UTC)
        except OverflowError:  # local time at the end of datetime's range: clamped anyway
            moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH  # aware arithmetic applies the offset: no conversion needed
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    tiebreak = int.from_bytes(hashlib.sha256(event_id.encode()).digest()[:4], "big") % 1000
    clamped = min(max(micros, 0), _MAX_MICROS)
    return (LIFECYCLE_STEP if final else 0) + clamped * 1000 + tiebreak


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
