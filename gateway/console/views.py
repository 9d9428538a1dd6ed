"""What the console shows of each source: one card, grouped by tenant."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.store.sources import SourceRecord
from gateway.store.syncs import shown_status

STATUS_LABELS: Mapping[str, tuple[str, str]] = {
    # status: (what the card says, its CSS class)
    "active": ("Connected", "ok"),
    "pending": ("Not connected", "idle"),
    "syncing": ("Syncing", "busy"),
    "error": ("Error", "bad"),
    "disconnected": ("Disconnected", "idle"),
}
COUNTS = ("processed", "created", "updated", "unchanged", "deleted", "failed")


@dataclass(frozen=True, slots=True)
class Channel:
    calendar_id: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Card:
    """One source as its card shows it (never a secret: `SourceRecord` has none)."""

    source: SourceRecord
    status: str
    """As the admin API shows it (`syncing` while an import runs)."""
    label: str
    tone: str
    last_sync: Mapping[str, Any] | None
    channels: Sequence[Channel]
    can_connect: bool
    can_sync: bool

    @property
    def account(self) -> str:
        account = self.source.account or {}
        return str(account.get("name") or account.get("id") or "—")

    @property
    def sync_counts(self) -> list[tuple[str, int]]:
        if not self.last_sync:
            return []
        return [(name, int(self.last_sync.get(f"items_{name}") or 0)) for name in COUNTS]


def cards_by_tenant(
    found: Sequence[SourceRecord],
    last_syncs: Mapping[str, Mapping[str, Any]],
    channels: Mapping[str, Sequence[tuple[str, datetime]]],
    connectable: frozenset[str],
    importable: frozenset[str],
) -> dict[str, list[Card]]:
    """Cards in tenant order, each tenant's in the order the sources were made."""
    grouped: dict[str, list[Card]] = {}
    for source in found:
        last_sync = last_syncs.get(source.id)
        status = shown_status(source.status, last_sync)
        label, tone = STATUS_LABELS.get(status, (status, "idle"))
        grouped.setdefault(source.tenant, []).append(
            Card(
                source=source,
                status=status,
                label=label,
                tone=tone,
                last_sync=last_sync,
                channels=[Channel(c, at) for c, at in channels.get(source.id, ())],
                can_connect=source.provider in connectable,
                can_sync=source.provider in importable and source.has_credentials,
            )
        )
    return dict(sorted(grouped.items()))
