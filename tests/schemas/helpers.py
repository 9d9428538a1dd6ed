"""Deliveries as the gateway hands them to the normalizers, after verification."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from schemas.envelope import Delivery

NOW = datetime(2026, 3, 14, 15, 9, 26, 535000, tzinfo=UTC)
RECEIVED = datetime(2026, 3, 14, 15, 9, 30, tzinfo=UTC)
SOURCE = "src_0123456789"
TENANT = "acme"


def delivery(
    provider: str,
    body: bytes = b"",
    *,
    headers: Mapping[str, str] | None = None,
    source_id: str = SOURCE,
    received_at: datetime = RECEIVED,
) -> Delivery:
    return Delivery(
        provider=provider,
        source_id=source_id,
        tenant=TENANT,
        headers=dict(headers or {}),
        body=body,
        received_at=received_at,
    )
