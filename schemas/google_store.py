"""SQLAlchemy Core tables for Google Calendar: push channels and per-calendar sync state.

`google_channels` holds what is needed to renew and stop a channel. It never holds
the channel token: the token is a signature the gateway can re-derive, and the
ingress checks it without a database round trip.

`google_sync_state` holds one row per (source, calendar): the stored syncToken
and the coalescing counters. A notification increments `requested_seq` in the
consumer's batch transaction; a sync run copies the value it started from into
`synced_seq` when it finishes. A row with `requested_seq > synced_seq` still
owes a sync (after a crash, for instance).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from schemas.tables import metadata, zero_bigint

CHANNEL_ACTIVE = "active"
CHANNEL_STOPPED = "stopped"

google_channels = Table(
    "google_channels",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("source_id", String(64), nullable=False),
    Column("calendar_id", String(500), nullable=False),
    Column("resource_id", String(256), nullable=True),
    Column("resource_uri", Text, nullable=True),
    Column("state", String(32), nullable=False, server_default=CHANNEL_ACTIVE),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("stopped_at", DateTime(timezone=True), nullable=True),
    Column("replaced_by", String(64), nullable=True),
    Column("renewing_since", DateTime(timezone=True), nullable=True),
)
"""Push channels (events.watch) by channel id; `state` is `active` or `stopped`;
`renewing_since`: when a worker claimed the channel to renew it."""
Index("ix_google_channels_source_state", google_channels.c.source_id, google_channels.c.state)
Index("ix_google_channels_state_expires", google_channels.c.state, google_channels.c.expires_at)

google_sync_state = Table(
    "google_sync_state",
    metadata,
    Column("source_id", String(64), nullable=False),
    Column("calendar_id", String(500), nullable=False),
    Column("tenant", String(200), nullable=False),
    Column("sync_token", Text, nullable=True),
    zero_bigint("requested_seq"),
    zero_bigint("synced_seq"),
    Column("status", String(32), nullable=False, server_default="idle"),
    Column("status_detail", Text, nullable=True),
    Column("last_full_sync_at", DateTime(timezone=True), nullable=True),
    Column("last_sync_at", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=True),
    PrimaryKeyConstraint("source_id", "calendar_id"),
)
"""Incremental-sync state per (source, calendar); `status` is `idle`, `ok` or `error`."""

WRITE_PENDING = "pending"
WRITE_DONE = "done"
WRITE_CONFLICT = "conflict"
WRITE_FAILED = "failed"
WRITE_STATUSES = (WRITE_PENDING, WRITE_DONE, WRITE_CONFLICT, WRITE_FAILED)
WRITE_OPS = ("insert", "patch", "delete")

google_writes = Table(
    "google_writes",
    metadata,
    Column("seq", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("id", String(64), nullable=False, unique=True),
    Column("source_id", String(64), nullable=False),
    Column("tenant", String(200), nullable=False),
    Column("calendar_id", String(500), nullable=False),
    Column("google_event_id", String(1024), nullable=False),
    Column("op", String(8), nullable=False),
    Column("body", JSON, nullable=True),
    Column("if_match", String(200), nullable=True),
    Column("status", String(16), nullable=False, server_default=WRITE_PENDING),
    Column("etag", String(200), nullable=True),
    Column("detail", Text, nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("conflicts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_expires_at", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
)
"""The outbox of writes to Google Calendar: stored before the admin API answers 202,
run in `seq` order per event by whichever worker holds the write's lease. `etag` is
Google's after the write; `conflicts` counts the 412s it met."""
Index("ix_google_writes_status_due", google_writes.c.status, google_writes.c.next_attempt_at)
Index(
    "ix_google_writes_event",
    google_writes.c.source_id,
    google_writes.c.calendar_id,
    google_writes.c.google_event_id,
    google_writes.c.seq,
)

GOOGLE_TABLES = (google_channels, google_sync_state, google_writes)
