"""SQLAlchemy Core tables of bookings and payments: facts, the links that join them, the
computed state and its history.

A booking's state is derived, never set: each event records what it shows as facts
(`booking_facts`) about a subject (`booking:<id>`, `invitee:<uri>`, `checkout:<cs_…>`,
`payment:<pi_…>`), and the links it shows between subjects (`booking_links`: a
Checkout Session names its booking, a rescheduled invitee its predecessor). A
booking's facts are those of every subject whose links lead to `booking:<id>`; the
state computed from them is kept in `booking_payments` (the contract's table), and
each change of it in `booking_history`, which is also the outbox its
`hookgate.booking.state_changed` events are published from (`published_at`).
"""

from __future__ import annotations

from sqlalchemy import (
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

from schemas.tables import metadata

booking_payments = Table(
    "booking_payments",
    metadata,
    Column("tenant", String(200), nullable=False),
    Column("booking_id", String(64), nullable=False),
    Column("state", String(32), nullable=False),
    Column("invitee_uri", String(500), nullable=True),
    Column("event_uri", String(500), nullable=True),
    Column("email", String(320), nullable=True),
    Column("name", String(500), nullable=True),
    Column("start_time", DateTime(timezone=True), nullable=True),
    Column("end_time", DateTime(timezone=True), nullable=True),
    Column("checkout_session_id", String(255), nullable=True),
    Column("payment_intent_id", String(255), nullable=True),
    Column("stripe_source_id", String(64), nullable=True),
    Column("amount", BigInteger, nullable=True),
    Column("currency", String(8), nullable=True),
    Column("paid_at", DateTime(timezone=True), nullable=True),
    Column("refunded_at", DateTime(timezone=True), nullable=True),
    Column("amount_refunded", BigInteger, nullable=True),
    Column("refund_id", String(255), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("tenant", "booking_id"),
)
"""One row per booking, its state computed from its facts. Amounts in the currency's
smallest unit, as Stripe counts them; `refund_id` is the refund hookgate asked Stripe
for (`refund_on_cancel`), set once."""
Index("ix_booking_payments_state_end", booking_payments.c.state, booking_payments.c.end_time)

booking_facts = Table(
    "booking_facts",
    metadata,
    Column("tenant", String(200), nullable=False),
    Column("subject", String(600), nullable=False),
    Column("fact", String(32), nullable=False),
    Column("value", Text, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("event_id", String(200), nullable=False),
    PrimaryKeyConstraint("tenant", "subject", "fact"),
)
"""What happened (`value`: JSON of what the event said), each set once: of several
events showing the same fact, the earliest (`occurred_at`, then `event_id`) is kept,
whatever order they come in (a refund keeps the largest amount refunded)."""

booking_links = Table(
    "booking_links",
    metadata,
    Column("tenant", String(200), nullable=False),
    Column("subject", String(600), nullable=False),
    Column("parent", String(600), nullable=False),
    PrimaryKeyConstraint("tenant", "subject", "parent"),
)
"""Which subjects belong together (read both ways); links are only ever added."""
Index("ix_booking_links_parent", booking_links.c.tenant, booking_links.c.parent)

booking_history = Table(
    "booking_history",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("tenant", String(200), nullable=False),
    Column("booking_id", String(64), nullable=False),
    Column("from_state", String(32), nullable=True),
    Column("to_state", String(32), nullable=False),
    Column("cause_event_id", String(200), nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Column("published_at", DateTime(timezone=True), nullable=True),
)
"""Each change of a booking's computed state; unpublished rows are the outbox."""
Index("ix_booking_history_booking", booking_history.c.tenant, booking_history.c.booking_id)
Index("ix_booking_history_published", booking_history.c.published_at, booking_history.c.id)
