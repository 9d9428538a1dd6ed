"""Webhook provisioning: the subscriptions hookgate made and their signing secrets.

Revision ID: 0008_webhook_subscriptions
Revises: 0007_connections
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_webhook_subscriptions"
down_revision: str | None = "0007_connections"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sources") as table:
        table.add_column(sa.Column("webhook_subscriptions", sa.Text(), nullable=True))
        table.add_column(sa.Column("webhook_secrets_ciphertext", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sources") as table:
        table.drop_column("webhook_secrets_ciphertext")
        table.drop_column("webhook_subscriptions")
