"""Google Calendar: push channels and per-calendar sync state.

Revision ID: 0003_google
Revises: 0002_store
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_google"
down_revision: str | None = "0002_store"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time(name: str, *, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "google_channels",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("source_id", sa.String(64), nullable=False),
        sa.Column("calendar_id", sa.String(500), nullable=False),
        sa.Column("resource_id", sa.String(256), nullable=True),
        sa.Column("resource_uri", sa.Text(), nullable=True),
        sa.Column("state", sa.String(32), nullable=False, server_default="active"),
        _time("expires_at", nullable=False),
        _time("created_at", nullable=False),
        _time("stopped_at"),
        sa.Column("replaced_by", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_google_channels"),
    )
    op.create_index("ix_google_channels_source_state", "google_channels", ["source_id", "state"])
    op.create_index("ix_google_channels_state_expires", "google_channels", ["state", "expires_at"])
    op.create_table(
        "google_sync_state",
        sa.Column("source_id", sa.String(64), nullable=False),
        sa.Column("calendar_id", sa.String(500), nullable=False),
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("sync_token", sa.Text(), nullable=True),
        sa.Column("requested_seq", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("synced_seq", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("status", sa.String(32), nullable=False, server_default="idle"),
        sa.Column("status_detail", sa.Text(), nullable=True),
        _time("last_full_sync_at"),
        _time("last_sync_at"),
        _time("updated_at"),
        sa.PrimaryKeyConstraint("source_id", "calendar_id", name="pk_google_sync_state"),
    )


def downgrade() -> None:
    op.drop_table("google_sync_state")
    op.drop_index("ix_google_channels_state_expires", table_name="google_channels")
    op.drop_index("ix_google_channels_source_state", table_name="google_channels")
    op.drop_table("google_channels")
