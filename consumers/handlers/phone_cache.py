"""E.164 normalization, remembered per (number, region).

`phonenumbers` takes ~15 µs per number; the same numbers come back with every
update of a contact or member, so the consumer keeps the results it computed.
"""

from __future__ import annotations

from functools import lru_cache

from consumers.phones import to_e164

CACHED_NUMBERS = 65_536


@lru_cache(maxsize=CACHED_NUMBERS)
def e164(raw: str | None, region: str) -> str | None:
    """`consumers.phones.to_e164(raw, region)`, cached."""
    return to_e164(raw, region)
