"""The outbox of writes to Google Calendar (`google_writes`).

Revision ID: 0012_google_writes
Revises: 0011_audit_log
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_google_writes"
down_revision: str | None = "0011_audit_log"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "google_writes",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("source_id", sa.String(64), nullable=False),
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("calendar_id", sa.String(500), nullable=False),
        sa.Column("google_event_id", sa.String(1024), nullable=False),
        sa.Column("op", sa.String(8), nullable=False),
        sa.Column("body", sa.JSON(), nullable=True),
        sa.Column("if_match", sa.String(200), nullable=True),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("etag", sa.String(200), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("conflicts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("seq", name="pk_google_writes"),
        sa.UniqueConstraint("id", name="uq_google_writes_id"),
    )
    op.create_index("ix_google_writes_status_due", "google_writes", ["status", "next_attempt_at"])
    op.create_index(
        "ix_google_writes_event",
        "google_writes",
        ["source_id", "calendar_id", "google_event_id", "seq"],
    )


def downgrade() -> None:
    op.drop_index("ix_google_writes_event", table_name="google_writes")
    op.drop_index("ix_google_writes_status_due", table_name="google_writes")
    op.drop_table("google_writes")
