"""The CLI's entries in the audit log (actor `cli`): one per change a command made."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.admin.actor import CLI
from gateway.settings import Settings
from gateway.store.audit import OK, AuditEntry, AuditLog
from gateway.store.engine import create_engine


async def record(
    settings: Settings,
    action: str,
    *,
    source_id: str | None = None,
    tenant: str | None = None,
    outcome: str = OK,
    detail: dict[str, object] | None = None,
) -> None:
    """Record `action` (`detail`: names, ids and counts, never a secret)."""
    engine = create_engine(settings)
    try:
        await AuditLog(engine, lambda: datetime.now(UTC)).record(
            AuditEntry(
                actor=CLI,
                action=action,
                outcome=outcome,
                source_id=source_id,
                tenant=tenant,
                detail=detail or {},
            )
        )
    finally:
        await engine.dispose()
