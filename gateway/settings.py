"""The one typed settings object, read from `HOOKGATE_*` environment variables.

Built once in the CLI and passed down; nothing reads the environment at import.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from verifiers.ghl import GHL_ED25519_PUBLIC_KEY, GHL_RSA_PUBLIC_KEY


class Settings(BaseSettings):
    """hookgate's configuration; see the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix="HOOKGATE_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./hookgate.db"
    kafka_bootstrap_servers: str | None = None
    kafka_enable_idempotence: bool = False
    kafka_publish_timeout_seconds: float = 2.0
    kafka_topic_partitions: int = 6
    kafka_topic_replication_factor: int = 1
    kafka_min_insync_replicas: int | None = Field(default=None, ge=1)
    """`min.insync.replicas` of the topics hookgate creates; None: `min(2, replication
    factor)`. With acks=all Kafka acknowledges a record once this many replicas have it,
    so 1 lets a lone leader acknowledge a record and lose it with its disk; 2 survives
    one broker's loss. A partition left with fewer replicas refuses writes, and the
    gateway spools (still durable) instead of answering 200 on a single copy."""
    kafka_dlq_retention_ms: int = Field(default=-1, ge=-1)
    """`retention.ms` of the dead-letter topic hookgate creates; -1 (the default) keeps
    dead letters until someone deletes them: they must never expire unseen."""
    spool_path: Path = Path("./hookgate-spool.db")
    topic_prefix: str = "hookgate"
    admin_token: SecretStr | None = None
    secret_keys: Annotated[tuple[SecretStr, ...], NoDecode] = ()
    dev_key_path: Path = Path("./hookgate-dev.key")
    host: str = "127.0.0.1"
    port: int = 8000
    admin_port: int | None = None
    """When set, `/admin` is served on this port only (and not on `port`)."""
    admin_host: str | None = None
    """Where the admin port listens; defaults to `host` (e.g. 127.0.0.1 beside a public 0.0.0.0)."""
    workers: int = 1
    metrics_port: int | None = None
    """Where `hookgate consume` serves its own /metrics and /healthz (0: any free port)."""
    public_url: str | None = None
    max_body_bytes: int = 1_048_576
    max_header_bytes: int = 32_768
    """The request line and headers together; more gets 431 and the connection closed."""
    header_timeout_seconds: float = 10.0
    """How long a connection may take to send a request's line and headers (slow-loris)."""
    body_timeout_seconds: float = 15.0
    """How long a webhook body may take to arrive once the headers are in (slow-loris)."""
    rate_limit_per_second: float = 1000.0
    """Deliveries per second per source and process; 0 turns the limit off."""
    rate_limit_burst: int = 2000
    rejections_kept: int = 200
    """How many recent rejected deliveries `GET /admin/rejections` shows (per process)."""
    secret_grace_seconds: int = 86_400
    audit_retention_days: int = Field(default=90, ge=1)
    """How long `audit_log` entries are kept (pruned with the consumers' upkeep)."""
    source_cache_seconds: float = 5.0
    ghl_public_key_rsa: str = GHL_RSA_PUBLIC_KEY
    ghl_public_key_ed25519: str = GHL_ED25519_PUBLIC_KEY
    calendly_tolerance_seconds: int = 180
    ghl_tolerance_seconds: int = 300
    stripe_tolerance_seconds: int = 300
    google_resync_seconds: float = Field(default=3600.0, ge=0)
    """A watched Google calendar not synced for this long is synced again (notifications
    get lost now and then); 0 turns it off."""
    reconcile_seconds: float = Field(default=21_600.0, ge=0)
    """Every active source with credentials is synced incrementally this often (PCO and
    GHL by update time, Calendly its future window); 0 turns it off."""
    full_reconcile_seconds: float = Field(default=86_400.0, ge=0)
    """... and in full this often (which finds deletions webhooks missed); 0: never."""
    sync_lease_seconds: float = Field(default=60.0, gt=0)
    """How long a sync's lease outlives its last committed page: a process killed mid-sync
    leaves it to the next process this long after."""
    google_sync_concurrency: int = Field(default=8, ge=1)
    """Google calendar syncs run at once per process, over all calendars; more wait."""
    google_conflict_policy: Literal["remote_wins", "local_wins"] = "remote_wins"
    """A write to Google that meets a newer version there (412): keep Google's version
    (`remote_wins`, the write ends `conflict`) or send the write again on it."""
    google_write_poll_seconds: float = Field(default=1.0, gt=0)
    """How often the consumers look for due writes in the Google write outbox."""
    google_api_base: str = "https://www.googleapis.com"
    google_token_url: str = "https://oauth2.googleapis.com/token"  # noqa: S105 (a URL)
    calendly_api_base: str = "https://api.calendly.com"
    pco_api_base: str = "https://api.planningcenteronline.com"
    ghl_api_base: str = "https://services.leadconnectorhq.com"
    stripe_api_base: str = "https://api.stripe.com"
    log_level: str = Field(default="INFO")
    unverified_rate_per_second: float = 10.0
    """Deliveries per second per source and process that may fail verification before
    further failures get 429 (a budget of their own: the genuine one is spent only by
    verified deliveries); 0 turns the limit off."""
    unverified_burst: int = 100
    unknown_sources_kept: int = Field(default=4096, ge=0)
    """How many unknown source ids each process remembers (each for `source_cache_seconds`)."""

    google_client_id: str | None = None
    google_client_secret: SecretStr | None = None
    google_revoke_url: str = "https://oauth2.googleapis.com/revoke"
    google_authorize_url: str = "https://accounts.google.com/o/oauth2/v2/auth"
    google_scopes: str = (
        "openid email https://www.googleapis.com/auth/calendar.events "
        "https://www.googleapis.com/auth/calendar.calendarlist.readonly"
    )
    pco_client_id: str | None = None
    pco_client_secret: SecretStr | None = None
    pco_authorize_url: str = "https://api.planningcenteronline.com/oauth/authorize"
    pco_token_url: str = "https://api.planningcenteronline.com/oauth/token"  # noqa: S105 (a URL)
    pco_scopes: str = "people webhooks"
    pco_revoke_url: str = "https://api.planningcenteronline.com/oauth/revoke"
    ghl_client_id: str | None = None
    ghl_client_secret: SecretStr | None = None
    ghl_authorize_url: str = "https://marketplace.gohighlevel.com/v2/oauth/chooselocation"
    ghl_token_url: str = "https://services.leadconnectorhq.com/oauth/token"  # noqa: S105 (a URL)
    ghl_scopes: str = "contacts.readonly locations.readonly"
    calendly_client_id: str | None = None
    calendly_client_secret: SecretStr | None = None
    calendly_authorize_url: str = "https://auth.calendly.com/oauth/authorize"
    calendly_token_url: str = "https://auth.calendly.com/oauth/token"  # noqa: S105 (a URL)
    calendly_scopes: str = (
        "users:read scheduled_events:read event_types:read webhooks:read webhooks:write"
    )

    @field_validator("secret_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @property
    def resolved_public_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def topic(self, provider: str) -> str:
        return f"{self.topic_prefix}.{provider}"

    @property
    def dlq_topic(self) -> str:
        return f"{self.topic_prefix}.dlq"

    @field_validator("kafka_min_insync_replicas")
    @classmethod
    def _within_replication(cls, value: int | None, info: ValidationInfo) -> int | None:
        replication = info.data.get("kafka_topic_replication_factor")
        if value is not None and replication is not None and value > replication:
            raise ValueError(
                f"{value} is more than HOOKGATE_KAFKA_TOPIC_REPLICATION_FACTOR ({replication}), "
                "so Kafka would refuse every acks=all write to the topics"
            )
        return value

    @property
    def topic_min_insync_replicas(self) -> int:
        """The `min.insync.replicas` topics are created with (see `kafka_min_insync_replicas`)."""
        if self.kafka_min_insync_replicas is not None:
            return self.kafka_min_insync_replicas
        return min(2, self.kafka_topic_replication_factor)

    # The OAuth apps of the connect flow (`POST /admin/connect/{provider}`); a provider
    # without a client id and secret answers 503 `oauth_not_configured`. The scopes are
    # the least the features need (see the README's "Connecting each provider").
