"""Google channels: `renewing_since`, the claim of the worker renewing a channel.

Every `serve` worker (and every pod) runs the renewal loop; a channel due for renewal
is claimed by setting this column in a conditional UPDATE, so one of them opens its
successor instead of each opening one.

Revision ID: 0005_channel_renewal_claim
Revises: 0004_ledger_brin
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_channel_renewal_claim"
down_revision: str | None = "0004_ledger_brin"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("google_channels") as table:
        table.add_column(sa.Column("renewing_since", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("google_channels") as table:
        table.drop_column("renewing_since")
