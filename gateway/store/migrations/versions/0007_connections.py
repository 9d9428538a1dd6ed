"""Connections: a source's account and webhooks, and the OAuth states already used.

Revision ID: 0007_connections
Revises: 0006_dead_letters
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_connections"
down_revision: str | None = "0006_dead_letters"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sources") as table:
        table.add_column(sa.Column("account", sa.Text(), nullable=True))
        table.add_column(sa.Column("account_id", sa.String(500), nullable=True))
        table.add_column(
            sa.Column("webhooks", sa.String(16), nullable=False, server_default="none")
        )
    op.create_index(
        "uq_sources_provider_tenant_account",
        "sources",
        ["provider", "tenant", "account_id"],
        unique=True,
    )
    op.create_table(
        "oauth_states",
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("nonce", name="pk_oauth_states"),
    )
    op.create_index("ix_oauth_states_used_at", "oauth_states", ["used_at"])


def downgrade() -> None:
    op.drop_index("ix_oauth_states_used_at", table_name="oauth_states")
    op.drop_table("oauth_states")
    op.drop_index("uq_sources_provider_tenant_account", table_name="sources")
    with op.batch_alter_table("sources") as table:
        table.drop_column("webhooks")
        table.drop_column("account_id")
        table.drop_column("account")
