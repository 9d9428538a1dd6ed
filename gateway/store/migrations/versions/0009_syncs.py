"""Sync jobs: imports and reconciliations, their cursor, lease and counts.

Revision ID: 0009_syncs
Revises: 0008_webhook_subscriptions
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_syncs"
down_revision: str | None = "0008_webhook_subscriptions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTS = (
    "items_processed",
    "items_created",
    "items_updated",
    "items_unchanged",
    "items_deleted",
    "items_failed",
    "items_applied",
    "items_published",
)


def upgrade() -> None:
    op.create_table(
        "syncs",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("source_id", sa.String(64), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("phase", sa.String(16), nullable=False, server_default="fetch"),
        *(sa.Column(name, sa.BigInteger(), nullable=False, server_default="0") for name in COUNTS),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_requested", sa.BigInteger(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id", name="pk_syncs"),
    )
    op.create_index("ix_syncs_source_started", "syncs", ["source_id", "started_at"])
    op.create_index(
        "uq_syncs_running_source",
        "syncs",
        ["source_id"],
        unique=True,
        sqlite_where=sa.text("status = 'running'"),
        postgresql_where=sa.text("status = 'running'"),
    )
    op.create_table(
        "sync_seen",
        sa.Column("sync_id", sa.String(64), nullable=False),
        sa.Column("item_key", sa.String(500), nullable=False),
        sa.PrimaryKeyConstraint("sync_id", "item_key", name="pk_sync_seen"),
    )


def downgrade() -> None:
    op.drop_table("sync_seen")
    op.drop_index("uq_syncs_running_source", table_name="syncs")
    op.drop_index("ix_syncs_source_started", table_name="syncs")
    op.drop_table("syncs")
