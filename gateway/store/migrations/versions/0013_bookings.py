"""Bookings and payments: facts, their links, the computed state and its history.

Revision ID: 0013_bookings
Revises: 0012_google_writes
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_bookings"
down_revision: str | None = "0012_google_writes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _moment(name: str, *, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "booking_payments",
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("booking_id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("invitee_uri", sa.String(500), nullable=True),
        sa.Column("event_uri", sa.String(500), nullable=True),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("name", sa.String(500), nullable=True),
        _moment("start_time"),
        _moment("end_time"),
        sa.Column("checkout_session_id", sa.String(255), nullable=True),
        sa.Column("payment_intent_id", sa.String(255), nullable=True),
        sa.Column("stripe_source_id", sa.String(64), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(8), nullable=True),
        _moment("paid_at"),
        _moment("refunded_at"),
        sa.Column("amount_refunded", sa.BigInteger(), nullable=True),
        sa.Column("refund_id", sa.String(255), nullable=True),
        _moment("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("tenant", "booking_id", name="pk_booking_payments"),
    )
    op.create_index("ix_booking_payments_state_end", "booking_payments", ["state", "end_time"])
    op.create_table(
        "booking_facts",
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(600), nullable=False),
        sa.Column("fact", sa.String(32), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        _moment("occurred_at", nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "subject", "fact", name="pk_booking_facts"),
    )
    op.create_table(
        "booking_links",
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(600), nullable=False),
        sa.Column("parent", sa.String(600), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "subject", "parent", name="pk_booking_links"),
    )
    op.create_index("ix_booking_links_parent", "booking_links", ["tenant", "parent"])
    op.create_table(
        "booking_history",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("booking_id", sa.String(64), nullable=False),
        sa.Column("from_state", sa.String(32), nullable=True),
        sa.Column("to_state", sa.String(32), nullable=False),
        sa.Column("cause_event_id", sa.String(200), nullable=False),
        _moment("changed_at", nullable=False),
        _moment("published_at"),
        sa.PrimaryKeyConstraint("id", name="pk_booking_history"),
    )
    op.create_index("ix_booking_history_booking", "booking_history", ["tenant", "booking_id"])
    op.create_index("ix_booking_history_published", "booking_history", ["published_at", "id"])


def downgrade() -> None:
    for table in ("booking_history", "booking_links", "booking_facts", "booking_payments"):
        op.drop_table(table)
