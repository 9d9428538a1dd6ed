"""SQLAlchemy Core tables the gateway owns: the sources; and the dead letters.

All tables share `metadata`. The store tables the consumers write live in
`schemas/store.py`; Google's channels and sync state in `schemas/google_store.py`.
Migrations (Alembic, `gateway/store/migrations`) are the source of truth for the
database; these definitions are what the code queries.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def zero_bigint(name: str) -> Column[int]:
    """A non-null 64-bit integer that starts at 0: versions, counts, sequence marks."""
    return Column(name, BigInteger, nullable=False, server_default="0")


SOURCE_ACTIVE = "active"
"""`sources.status` of a source that takes deliveries and syncs (others: `error`,
`disconnected`)."""
SOURCE_ERROR = "error"
SOURCE_SYNCING = "syncing"
"""Shown, never stored: an active source whose latest sync is running."""
WEBHOOKS_NONE = "none"
WEBHOOKS_PROVISIONED = "provisioned"
WEBHOOKS_MANUAL = "manual"
SOURCE_DISCONNECTED = "disconnected"

sources = Table(
    "sources",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("provider", String(32), nullable=False),
    Column("tenant", String(200), nullable=False),
    Column("status", String(32), nullable=False, server_default=SOURCE_ACTIVE),
    Column("status_detail", Text, nullable=True),
    Column("secret_ciphertext", LargeBinary, nullable=True),
    Column("previous_secret_ciphertext", LargeBinary, nullable=True),
    Column("previous_secret_expires_at", DateTime(timezone=True), nullable=True),
    Column("credentials_ciphertext", LargeBinary, nullable=True),
    Column("options", Text, nullable=False, server_default="{}"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("account", Text, nullable=True),
    Column("account_id", String(500), nullable=True),
    Column("webhooks", String(16), nullable=False, server_default=WEBHOOKS_NONE),
    Column("webhook_subscriptions", Text, nullable=True),
    Column("webhook_secrets_ciphertext", LargeBinary, nullable=True),
    Column("last_delivery_at", DateTime(timezone=True), nullable=True),
)
"""`account` is the provider's identity of the connected account (JSON: `id`, `name`,
and what the provider adds); `account_id` its id, so that reconnecting the same
account of the same tenant finds its source (unique while set). `webhooks`:
`provisioned`, `manual` or `none`; `webhook_subscriptions` what hookgate made at the
provider (JSON: `items` of `{id, name}`, `detail` a sentence) and
`webhook_secrets_ciphertext` the signing secrets those subscriptions were given
(encrypted JSON list: PCO gives one per subscription), accepted beside `secret`.
`last_delivery_at`: when the consumers last applied a webhook delivery of the source
(`consumers.deliveries`: written at most about once a minute per source)."""
Index("ix_sources_provider_tenant", sources.c.provider, sources.c.tenant)
Index(
    "uq_sources_provider_tenant_account",
    sources.c.provider,
    sources.c.tenant,
    sources.c.account_id,
    unique=True,
)

oauth_states = Table(
    "oauth_states",
    metadata,
    Column("nonce", String(64), primary_key=True),
    Column("provider", String(32), nullable=False),
    Column("used_at", DateTime(timezone=True), nullable=False),
)
"""The `state` of every OAuth callback taken: a second use of one finds its row and
fails, in any process. Rows older than the state's lifetime can be deleted."""
Index("ix_oauth_states_used_at", oauth_states.c.used_at)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("topic", String(255), nullable=False),
    Column("partition", Integer, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("consumer_group", String(255), nullable=False),
    Column("key", LargeBinary, nullable=True),
    Column("value", LargeBinary, nullable=True),
    Column("headers", LargeBinary, nullable=False),
    Column("error_class", String(200), nullable=False),
    Column("error", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("failed_at", DateTime(timezone=True), nullable=False),
    Column("replayed_at", DateTime(timezone=True), nullable=True),
)
"""Events the embedded consumer could not apply (`consumers.dead_letter_table`): the
bus record as it was (`headers` a JSON list of `[name, text]`), the error's class
and one payload-free line, and `replayed_at` once `hookgate replay` applied it. The
embedded default's counterpart of Kafka mode's `{prefix}.dlq` topic."""
Index("ix_dead_letters_replayed_at", dead_letters.c.replayed_at)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(16), nullable=False),
    Column("action", String(64), nullable=False),
    Column("source_id", String(64), nullable=True),
    Column("tenant", String(200), nullable=True),
    Column("outcome", String(64), nullable=False),
    Column("detail", Text, nullable=False, server_default="{}"),
)
"""Every change made through the admin API (`actor` `admin`, or `console` for the web
console's requests), the CLI (`cli`) or an OAuth callback (`oauth`): `action` such as
`source.create`, `outcome` `ok` or the error code, `detail` JSON of what was touched:
field names, never a value that could be a secret. Pruned after
`HOOKGATE_AUDIT_RETENTION_DAYS`."""
Index("ix_audit_log_at", audit_log.c.at)
Index("ix_audit_log_source_id_id", audit_log.c.source_id, audit_log.c.id)
