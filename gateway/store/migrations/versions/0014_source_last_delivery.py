"""Sources: when a webhook delivery of each was last applied (`last_delivery_at`).

Revision ID: 0014_source_last_delivery
Revises: 0013_bookings
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_source_last_delivery"
down_revision: str | None = "0013_bookings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sources") as table:
        table.add_column(sa.Column("last_delivery_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sources") as table:
        table.drop_column("last_delivery_at")
