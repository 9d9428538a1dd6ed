"""The local store: bookings, members, contacts, appointments, and the ledger.

Revision ID: 0002_store
Revises: 0001_gateway
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_store"
down_revision: str | None = "0001_gateway"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _version(name: str = "version") -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), nullable=False, server_default="0")


def _time(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=True)


def upgrade() -> None:
    op.create_table(
        "processed_events",
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("type", sa.String(200), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", "event_id", name="pk_processed_events"),
    )
    op.create_index("ix_processed_events_processed_at", "processed_events", ["processed_at"])
    op.create_table(
        "bookings",
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("invitee_uri", sa.String(500), nullable=False),
        sa.Column("event_uri", sa.String(500), nullable=True),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("name", sa.String(500), nullable=True),
        sa.Column("status", sa.String(16), nullable=True),
        _time("start_time"),
        _time("end_time"),
        _time("canceled_at"),
        sa.Column("cancel_reason", sa.Text(), nullable=True),
        sa.Column("canceled_by", sa.String(500), nullable=True),
        sa.Column("canceler_type", sa.String(32), nullable=True),
        sa.Column("rescheduled_to", sa.String(500), nullable=True),
        sa.Column("rescheduled_from", sa.String(500), nullable=True),
        _version(),
        sa.Column("no_show", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("no_show_uri", sa.String(500), nullable=True),
        _time("no_show_at"),
        _version("no_show_version"),
        sa.PrimaryKeyConstraint("tenant", "invitee_uri", name="pk_bookings"),
    )
    op.create_table(
        "members",
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("pco_person_id", sa.String(64), nullable=False),
        sa.Column("first_name", sa.String(200), nullable=True),
        sa.Column("last_name", sa.String(200), nullable=True),
        sa.Column("status", sa.String(32), nullable=True),
        _time("deleted_at"),
        _version(),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("tenant", "pco_person_id", name="pk_members"),
    )
    op.create_table(
        "member_emails",
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("pco_email_id", sa.String(64), nullable=False),
        sa.Column("pco_person_id", sa.String(64), nullable=True),
        sa.Column("address", sa.String(320), nullable=True),
        sa.Column("is_primary", sa.Boolean(), nullable=False, server_default=sa.false()),
        _time("deleted_at"),
        _version(),
        sa.PrimaryKeyConstraint("tenant", "pco_email_id", name="pk_member_emails"),
    )
    op.create_index("ix_member_emails_person", "member_emails", ["tenant", "pco_person_id"])
    op.create_table(
        "member_phones",
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("pco_phone_number_id", sa.String(64), nullable=False),
        sa.Column("pco_person_id", sa.String(64), nullable=True),
        sa.Column("number", sa.String(32), nullable=True),
        sa.Column("raw_number", sa.String(64), nullable=True),
        sa.Column("is_primary", sa.Boolean(), nullable=False, server_default=sa.false()),
        _time("deleted_at"),
        _version(),
        sa.PrimaryKeyConstraint("tenant", "pco_phone_number_id", name="pk_member_phones"),
    )
    op.create_index("ix_member_phones_person", "member_phones", ["tenant", "pco_person_id"])
    op.create_table(
        "contacts",
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("ghl_contact_id", sa.String(64), nullable=False),
        sa.Column("location_id", sa.String(64), nullable=True),
        sa.Column("first_name", sa.String(200), nullable=True),
        sa.Column("last_name", sa.String(200), nullable=True),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=True),
        _time("deleted_at"),
        _version(),
        sa.Column("dnd", sa.Boolean(), nullable=True),
        sa.Column("dnd_settings", sa.JSON(), nullable=True),
        _version("dnd_version"),
        sa.PrimaryKeyConstraint("tenant", "ghl_contact_id", name="pk_contacts"),
    )
    op.create_table(
        "ghl_appointments",
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("ghl_appointment_id", sa.String(64), nullable=False),
        sa.Column("location_id", sa.String(64), nullable=True),
        sa.Column("calendar_id", sa.String(64), nullable=True),
        sa.Column("contact_id", sa.String(64), nullable=True),
        sa.Column("title", sa.String(500), nullable=True),
        sa.Column("status", sa.String(32), nullable=True),
        _time("start_time"),
        _time("end_time"),
        _time("deleted_at"),
        _version(),
        sa.PrimaryKeyConstraint("tenant", "ghl_appointment_id", name="pk_ghl_appointments"),
    )
    op.create_index("ix_ghl_appointments_location", "ghl_appointments", ["tenant", "location_id"])
    op.create_table(
        "appointments",
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("calendar_id", sa.String(500), nullable=False),
        sa.Column("google_event_id", sa.String(1024), nullable=False),
        sa.Column("etag", sa.String(200), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        _time("start_time"),
        _time("end_time"),
        sa.Column("status", sa.String(16), nullable=True),
        _time("updated"),
        _time("deleted_at"),
        _version(),
        sa.PrimaryKeyConstraint("tenant", "calendar_id", "google_event_id", name="pk_appointments"),
    )


def downgrade() -> None:
    for table in (
        "appointments",
        "ghl_appointments",
        "contacts",
        "member_phones",
        "member_emails",
        "members",
        "bookings",
        "processed_events",
    ):
        op.drop_table(table)
