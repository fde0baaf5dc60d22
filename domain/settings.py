"""Typed configuration, read once at start-up from the environment and CLI flags.

Every variable starts with ``INVOICING_``; the broker may also be named by the
standard ``KAFKA_BOOTSTRAP_SERVERS``. Per platform, settings come from
``INVOICING_<PLATFORM>_*`` (upper case, ``-`` → ``_``), see `PlatformSettings`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.errors import ConfigError

__all__ = ["Settings", "PlatformSettings", "load_settings", "platform_env_prefix", "platform_settings", "MAX_EVENT_ID_BYTES"]

#: longest event id or event type (UTF-8 bytes) the gateway accepts from a platform's event (longer: 400)
MAX_EVENT_ID_BYTES = 1024


class Settings(BaseSettings):
    """Pipeline-wide settings."""

    model_config = SettingsConfigDict(env_prefix="INVOICING_", extra="ignore", populate_by_name=True)

    bootstrap: str | None = Field(
        default=None,
        validation_alias=AliasChoices("INVOICING_BOOTSTRAP", "KAFKA_BOOTSTRAP_SERVERS", "bootstrap"),
        description="Kafka bootstrap servers (HOST:PORT[,HOST:PORT]). Unset: the embedded broker.",
    )
    topic_prefix: str = Field("", description="Prefix for every topic name (test isolation, multi-tenant clusters).")
    partitions: int = Field(4, ge=1, description="Partitions for topics the pipeline creates.")
    replication_factor: int = Field(1, ge=1)
    app_id: str = Field("invoicing", description="Faust application id (consumer group and changelog prefix).")
    store: Literal["memory://", "rocksdb://"] = Field("memory://", description="Faust table store.")
    data_dir: Path = Field(Path(".invoicing-data"), description="Worker state directory (RocksDB).")
    schema_registry_url: str | None = Field(None, description="Use Confluent framing with ids from this registry.")
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Largest webhook body the gateway accepts (larger: 413). The producers' request size and the topics' max.message.bytes are derived from it (max_message_bytes), so every body it allows can be published.")
    max_header_bytes: int = Field(32_768, ge=4096, description="Largest request head (request line and headers) the gateway reads; larger is answered 431.")
    header_timeout: float = Field(10.0, gt=0, description="Seconds a client may take to send a request's head; then the gateway answers 408 (or closes an idle connection).")
    body_timeout: float = Field(30.0, gt=0, description="Seconds a client may take to send a request's body; then the gateway answers 408 and closes the connection.")
    keep_alive_timeout: float = Field(5.0, gt=0, description="Seconds an idle keep-alive connection to the gateway stays open.")
    broker_check_interval: float = Field(2.0, gt=0, description="Seconds between the gateway's and the worker's checks that the broker still holds the pipeline's topics (see README, 'The broker comes back empty').")
    gateway_metrics_port: int = Field(0, ge=0, description="0: the gateway serves /metrics beside the webhooks on its own port. N: the gateway serves /metrics (with /healthz and /readyz) on metrics_host:N, loopback unless metrics_host says otherwise, and not on the webhook port. /healthz and /readyz stay on the webhook port for probes either way.")
    output_dir: Path = Field(Path("invoices-out"), description="Where the folder sink writes invoices.")
    validate_documents: bool = Field(True, description="Validate every e-invoice (UBL, CII, Factur-X) against its XSD and the EN 16931 (and Peppol) rules before the folder and e-mail sinks deliver it; a failure parks that delivery with the rule ids.")
    register_dsn: SecretStr | None = Field(None, description="Invoice register database (SQLAlchemy URL: postgresql://user:pw@host/db or sqlite:///path). Unset: the SQLite file register_path.")
    register_path: Path = Field(Path("invoicing-register.db"), description="SQLite file of the invoice register when no register_dsn is given.")
    register_schema: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$", description="PostgreSQL schema of the register tables (created on migrate).")
    register_receipts: bool | None = Field(None, description="Record delivery receipts in the register. Unset: when register_dsn is set, 'register' is a default target, or the register file exists.")
    rebalance_timeout: float = Field(10.0, gt=0, description="Consumer group rebalance/session timeout, seconds.")
    metrics_port: int = Field(9108, ge=0, description="Worker /metrics, /healthz and /readyz port (0: off).")
    metrics_host: str = Field("127.0.0.1", description="Address the worker's /metrics, /healthz and /readyz listen on, and the gateway's when gateway_metrics_port is set (loopback unless set, e.g. 0.0.0.0 in a container).")
    seller_wait_log_interval: float = Field(30.0, gt=0, description="While no seller is configured the worker waits, saying so in its log every this many seconds.")
    default_targets: list[str] = Field(default_factory=lambda: ["folder"], description="Sinks for customers without a routing entry.")
    dedup_retention_days: float = Field(35.0, gt=0, description="How long order states (both levels of dedup) are kept; issued invoices are kept for ever, so a replay after this still gets the same number.")
    sweep_interval: float = Field(3600.0, gt=0, description="Seconds between sweeps of expired order states.")
    sink_max_attempts: int = Field(5, ge=1, description="Delivery attempts before an invoice is parked on the dead-letter topic.")
    sink_timeout: float = Field(10.0, gt=0, description="Seconds per call to a target system.")
    sink_backoff_base: float = Field(0.5, gt=0, description="First retry delay, seconds; doubled each attempt, with jitter.")
    sink_backoff_max: float = Field(30.0, gt=0)
    circuit_threshold: int = Field(5, ge=1, description="Consecutive failures that open a target's circuit.")
    circuit_cooldown: float = Field(30.0, gt=0, description="Seconds an open circuit waits before a trial call.")
    fetch_max_attempts: int = Field(5, ge=1, description="Attempts to fetch a thin event's document before it is parked.")
    linger_ms: int = Field(5, ge=0, description="Producer linger for the worker's output topics.")
    fetch_max_wait_ms: int = Field(20, ge=0, le=5000, description="How long the worker's consumer lets the broker hold an empty fetch (Faust's own default is 1500 ms per hop).")
    cycle_check_interval: float = Field(60.0, gt=0, description="Seconds between checks for billing cycles that ended.")
    recovery_consistency_check: bool = Field(True, description="Faust's check that a RocksDB table's persisted changelog offset is not past the topic's end (the end the worker read the changelog to, streams/faust_patches.py patch 5).")
    agents: list[str] = Field(default_factory=lambda: ["all"], description='Agents this worker runs: ["all"], or e.g. ["normalise","bill","cycles","issue"] and ["deliver","register_receipts"] in separate processes, to scale sinks apart from the stream processors.')
    token_store: Path | None = Field(None, description="File keeping rotated OAuth refresh tokens across restarts (encrypted).")
    token_store_key: SecretStr | None = Field(None, description="Fernet key that encrypts the token store.")
    producer_max_batch_bytes: int = Field(16384, ge=1, description="Producer batch size of the worker, in bytes.")
    log_level: str = Field("WARNING")
    log_format: Literal["text", "json"] = Field("text", description="text: one line per record; json: one JSON object per line with platform, event id, order key and invoice number where known (domain.jsonlog).")
    ops_check_interval: float = Field(15.0, gt=0, description="Seconds between the worker's measurements of consumer lag and pending dead letters (invoicing_consumer_lag_messages, invoicing_dead_letters_pending).")

    def topic(self, name: str) -> str:
        """Full topic name for *name*."""
        return f"{self.topic_prefix}{name}"

    @property
    def max_raw_event_bytes(self) -> int:
        """Largest raw event (Avro value plus key) an accepted webhook can make: the body, plus the envelope.
        The kept headers and the content type are each at most the request head; the stored URL (Host, path,
        query, re-encoded with secrets masked) is refused beyond twice the head; event id and type are refused
        beyond `MAX_EVENT_ID_BYTES` each (the key repeats the id); the fixed fields and Avro framing fit 4 KiB."""
        return self.max_body_bytes + 4 * self.max_header_bytes + 3 * MAX_EVENT_ID_BYTES + 4096

    @property
    def max_message_bytes(self) -> int:
        """The producers' ``max_request_size`` (gateway and worker), the worker's fetch size and the topics'
        ``max.message.bytes``: a raw event, and the same raw event parked on the dead-letter topic with its
        reason (at most 2,000 characters), its key and the record batch around it, always fit."""
        return self.max_raw_event_bytes + 65_536


def load_settings(**overrides: object) -> Settings:
    """Read the settings once; CLI flags come in as *overrides* (``None`` values are ignored).

    Raises:
        ConfigError: a value is invalid.
    """
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(f"invalid configuration: {exc}") from None


def platform_env_prefix(platform: str) -> str:
    """``zoho-books`` → ``INVOICING_ZOHO_BOOKS_``."""
    return "INVOICING_" + platform.upper().replace("-", "_") + "_"


class PlatformSettings(BaseSettings):
    """What a platform connector may need. Subclass to add fields; every field
    is read from ``INVOICING_<PLATFORM>_<FIELD>``."""

    model_config = SettingsConfigDict(extra="ignore")

    secret: SecretStr | None = Field(None, description="Webhook signing secret or shared token.")
    base_url: str | None = Field(None, description="API base URL (tests and sandboxes point it anywhere).")
    client_id: str | None = None
    client_secret: SecretStr | None = None
    refresh_token: SecretStr | None = None
    access_token: SecretStr | None = None
    api_key: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    tenant: str | None = Field(None, description="Tenant, realm, company, organisation or account id.")
    token_url: str | None = None
    timestamp_tolerance: int = Field(300, ge=1, description="Seconds a signed timestamp may be old.")


def platform_settings(platform: str, cls: type[PlatformSettings] = PlatformSettings) -> PlatformSettings:
    """Load *cls* for *platform* from the environment.

    Raises:
        ConfigError: a value is invalid.
    """
    try:
        return cls(_env_prefix=platform_env_prefix(platform))
    except ValidationError as exc:
        raise ConfigError(f"invalid settings for {platform}: {exc}") from None
