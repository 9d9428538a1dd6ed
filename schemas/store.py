"""SQLAlchemy Core tables of the local store the consumers keep in sync.

The contract's tables are `bookings`, `members`, `contacts` and `appointments`;
the rest is what an idempotent, order-insensitive apply needs.

Every group of columns that one kind of event writes carries its own `*version`
column (a `BIGINT`, see `consumers.versions`): an upsert only touches a row whose
stored version is lower, so an old event after a new one changes nothing. Deletes
keep the row as a tombstone (`deleted_at` set) with a version that outranks every
non-delete, so a late "created" cannot bring the row back. Rows can be partial: an
email, phone or no-show event may arrive before the resource itself, and the
resource's event completes the row later without losing either side's fields.

Times are stored in UTC. Migrations in `gateway/store/migrations` create these tables.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Index,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    false,
)

from schemas.tables import metadata, zero_bigint

processed_events = Table(
    "processed_events",
    metadata,
    Column("source", String(200), nullable=False),
    Column("event_id", String(200), nullable=False),
    Column("type", String(200), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("processed_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("source", "event_id"),
)
"""The ledger of applied events: a redelivered event is skipped. `outcome` is
`applied` or `unhandled`. Rows older than the retention are pruned; past it, the
version guards still make a redelivery harmless. Rows arrive in time order and are
read by time only to prune them: on PostgreSQL `processed_at` has a BRIN index."""
Index("ix_processed_events_processed_at", processed_events.c.processed_at, postgresql_using="brin")

bookings = Table(
    "bookings",
    metadata,
    Column("tenant", String(200), nullable=False),
    Column("invitee_uri", String(500), nullable=False),
    Column("event_uri", String(500), nullable=True),
    Column("email", String(320), nullable=True),
    Column("name", String(500), nullable=True),
    Column("status", String(16), nullable=True),
    Column("start_time", DateTime(timezone=True), nullable=True),
    Column("end_time", DateTime(timezone=True), nullable=True),
    Column("canceled_at", DateTime(timezone=True), nullable=True),
    Column("cancel_reason", Text, nullable=True),
    Column("canceled_by", String(500), nullable=True),
    Column("canceler_type", String(32), nullable=True),
    Column("rescheduled_to", String(500), nullable=True),
    Column("rescheduled_from", String(500), nullable=True),
    zero_bigint("version"),
    Column("no_show", Boolean, nullable=False, server_default=false()),
    Column("no_show_uri", String(500), nullable=True),
    Column("no_show_at", DateTime(timezone=True), nullable=True),
    zero_bigint("no_show_version"),
    PrimaryKeyConstraint("tenant", "invitee_uri"),
)
"""Calendly invitees. `status` is NULL only while a no-show mark arrived first."""

members = Table(
    "members",
    metadata,
    Column("tenant", String(200), nullable=False),
    Column("pco_person_id", String(64), nullable=False),
    Column("first_name", String(200), nullable=True),
    Column("last_name", String(200), nullable=True),
    Column("status", String(32), nullable=True),
    Column("deleted_at", DateTime(timezone=True), nullable=True),
    zero_bigint("version"),
    Column("email", String(320), nullable=True),
    Column("phone", String(32), nullable=True),
    PrimaryKeyConstraint("tenant", "pco_person_id"),
)
"""Planning Center people. `email`/`phone` are derived from `member_emails` and
`member_phones`: the current primary, non-deleted one."""

member_emails = Table(
    "member_emails",
    metadata,
    Column("tenant", String(200), nullable=False),
    Column("pco_email_id", String(64), nullable=False),
    Column("pco_person_id", String(64), nullable=True),
    Column("address", String(320), nullable=True),
    Column("is_primary", Boolean, nullable=False, server_default=false()),
    Column("deleted_at", DateTime(timezone=True), nullable=True),
    zero_bigint("version"),
    PrimaryKeyConstraint("tenant", "pco_email_id"),
)
Index("ix_member_emails_person", member_emails.c.tenant, member_emails.c.pco_person_id)

member_phones = Table(
    "member_phones",
    metadata,
    Column("tenant", String(200), nullable=False),
    Column("pco_phone_number_id", String(64), nullable=False),
    Column("pco_person_id", String(64), nullable=True),
    Column("number", String(32), nullable=True),
    Column("raw_number", String(64), nullable=True),
    Column("is_primary", Boolean, nullable=False, server_default=false()),
    Column("deleted_at", DateTime(timezone=True), nullable=True),
    zero_bigint("version"),
    PrimaryKeyConstraint("tenant", "pco_phone_number_id"),
)
"""`number` is E.164, or NULL when `raw_number` could not be parsed."""
Index("ix_member_phones_person", member_phones.c.tenant, member_phones.c.pco_person_id)

contacts = Table(
    "contacts",
    metadata,
    Column("tenant", String(200), nullable=False),
    Column("ghl_contact_id", String(64), nullable=False),
    Column("location_id", String(64), nullable=True),
    Column("first_name", String(200), nullable=True),
    Column("last_name", String(200), nullable=True),
    Column("email", String(320), nullable=True),
    Column("phone", String(32), nullable=True),
    Column("tags", JSON, nullable=True),
    Column("deleted_at", DateTime(timezone=True), nullable=True),
    zero_bigint("version"),
    Column("dnd", Boolean, nullable=True),
    Column("dnd_settings", JSON, nullable=True),
    zero_bigint("dnd_version"),
    PrimaryKeyConstraint("tenant", "ghl_contact_id"),
)
"""GoHighLevel contacts. `tags` is a JSON array. The do-not-disturb columns have
their own version: a `ContactDndUpdate` may carry nothing else."""

ghl_appointments = Table(
    "ghl_appointments",
    metadata,
    Column("tenant", String(200), nullable=False),
    Column("ghl_appointment_id", String(64), nullable=False),
    Column("location_id", String(64), nullable=True),
    Column("calendar_id", String(64), nullable=True),
    Column("contact_id", String(64), nullable=True),
    Column("title", String(500), nullable=True),
    Column("status", String(32), nullable=True),
    Column("start_time", DateTime(timezone=True), nullable=True),
    Column("end_time", DateTime(timezone=True), nullable=True),
    Column("deleted_at", DateTime(timezone=True), nullable=True),
    zero_bigint("version"),
    PrimaryKeyConstraint("tenant", "ghl_appointment_id"),
)
Index("ix_ghl_appointments_location", ghl_appointments.c.tenant, ghl_appointments.c.location_id)

appointments = Table(
    "appointments",
    metadata,
    Column("tenant", String(200), nullable=False),
    Column("calendar_id", String(500), nullable=False),
    Column("google_event_id", String(1024), nullable=False),
    Column("etag", String(200), nullable=True),
    Column("summary", Text, nullable=True),
    Column("start_time", DateTime(timezone=True), nullable=True),
    Column("end_time", DateTime(timezone=True), nullable=True),
    Column("status", String(16), nullable=True),
    Column("updated", DateTime(timezone=True), nullable=True),
    Column("deleted_at", DateTime(timezone=True), nullable=True),
    zero_bigint("version"),
    PrimaryKeyConstraint("tenant", "calendar_id", "google_event_id"),
)
"""Google Calendar events. Google reports a deletion as `status: cancelled`, which
can be undone, so a cancelled event is a row like any other guarded by `version`
(from `updated`); `deleted_at` is for rows removed by a full resync after a 410."""

STORE_TABLES = (
    processed_events,
    bookings,
    members,
    member_emails,
    member_phones,
    contacts,
    ghl_appointments,
    appointments,
)
