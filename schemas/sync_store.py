"""SQLAlchemy Core tables of imports and reconciliations: the sync jobs and what each saw.

`syncs` is one durable job per import: its state, its cursor (committed with each
page), the lease of the process running it, and its counts. `items_processed` is
what the importer fetched (committed with the cursor); the other counts are what the
applier did with the sync's events (`created`, `updated`, `unchanged`, `deleted`,
summed in the apply transaction), so they are exact however often a page is
re-read. `items_applied` is every sync event the applier took, whatever it did: the
runner waits for it to reach what it published before it reconciles or finishes.

`sync_seen` holds the keys of the records a sync applied, so a completed full sync
knows which of the tenant's rows it did not see.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    text,
)

from schemas.tables import metadata, zero_bigint

SYNC_RUNNING = "running"
SYNC_COMPLETED = "completed"
SYNC_FAILED = "failed"
SYNC_CANCELED = "canceled"
SYNC_STATUSES = (SYNC_RUNNING, SYNC_COMPLETED, SYNC_FAILED, SYNC_CANCELED)
COUNTS = (
    "items_processed",
    "items_created",
    "items_updated",
    "items_unchanged",
    "items_deleted",
    "items_failed",
)


syncs = Table(
    "syncs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("source_id", String(64), nullable=False),
    Column("provider", String(32), nullable=False),
    Column("tenant", String(200), nullable=False),
    Column("mode", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("cursor", Text, nullable=True),
    Column("phase", String(16), nullable=False, server_default="fetch"),
    *(zero_bigint(name) for name in COUNTS),
    zero_bigint("items_applied"),
    zero_bigint("items_published"),
    Column("error", Text, nullable=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_expires_at", DateTime(timezone=True), nullable=True),
    zero_bigint("cancel_requested"),
)
"""`cursor`: the importer's position (JSON), `phase` `fetch`, `settle` or `reconcile`."""
Index("ix_syncs_source_started", syncs.c.source_id, syncs.c.started_at)
Index(
    "uq_syncs_running_source",
    syncs.c.source_id,
    unique=True,
    sqlite_where=text("status = 'running'"),
    postgresql_where=text("status = 'running'"),
)

sync_seen = Table(
    "sync_seen",
    metadata,
    Column("sync_id", String(64), nullable=False),
    Column("item_key", String(500), nullable=False),
    PrimaryKeyConstraint("sync_id", "item_key"),
)
"""The records (their store key) each sync's events were applied for."""
