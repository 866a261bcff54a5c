"""Typed settings, read from VRP_* environment variables and an optional .env file."""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEMO_CONFIG_DIR = Path(__file__).parent / "demo" / "west-midlands"


def _local_url(host: str, port: int) -> str:
    """Where this process answers, as a link from the same machine can reach it."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return f"http://{host}:{port}"  # a name
    if address.is_unspecified:
        return f"http://127.0.0.1:{port}"  # listening everywhere: loopback reaches it
    return f"http://[{address}]:{port}" if address.version == 6 else f"http://{address}:{port}"


class TransportKind(StrEnum):
    """How services exchange events."""

    EMBEDDED = "embedded"
    KAFKA = "kafka"


class KafkaSecurity(StrEnum):
    """How clients connect to the brokers."""

    PLAINTEXT = "PLAINTEXT"
    SASL_PLAINTEXT = "SASL_PLAINTEXT"
    SASL_SSL = "SASL_SSL"


class Settings(BaseSettings):
    """Every knob of the service; the defaults are the embedded single-process mode."""

    model_config = SettingsConfigDict(env_prefix="VRP_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite+aiosqlite:///var/vrp.db",
        description="SQLAlchemy async URL: sqlite+aiosqlite:///path or postgresql+asyncpg://...",
    )
    database_pool_size: int = Field(default=10, description="Connections per process (PostgreSQL).")
    database_pre_ping: bool = Field(
        default=False,
        description="Check each pooled PostgreSQL connection before use. Off: it costs a round "
        "trip per transaction (8-10 % of each service's CPU under load), and intake, workers, "
        "relays and the notifier recover from broken connections without it.",
    )
    transport: TransportKind = Field(
        default=TransportKind.EMBEDDED,
        description="embedded: consume the outbox table in-process; kafka: Apache Kafka.",
    )
    kafka_bootstrap: str = Field(default="127.0.0.1:9092", description="Kafka bootstrap servers.")
    kafka_client_id: str = Field(default="vrp", description="Prefix of Kafka client ids.")
    kafka_security_protocol: KafkaSecurity = Field(
        default=KafkaSecurity.PLAINTEXT,
        description="PLAINTEXT, SASL_PLAINTEXT (loopback only) or SASL_SSL (over a network).",
    )
    kafka_username: str | None = Field(
        default=None, description="SASL/SCRAM-SHA-512 user: this service's own principal."
    )
    kafka_password: SecretStr | None = Field(default=None, description="That user's password.")
    kafka_ca_file: Path | None = Field(
        default=None, description="CA certificate (PEM) that signed the brokers' (SASL_SSL)."
    )
    kafka_namespace: str = Field(
        default="",
        description="Prefix of every topic and consumer group (e.g. 'staging.'), so several "
        "environments can share one cluster.",
    )
    topic_partitions: int = Field(default=3, description="Partitions for topics we create.")
    topic_replication: int = Field(default=1, description="Replication factor for new topics.")
    config_dir: Path = Field(
        default=DEMO_CONFIG_DIR, description="Routing configuration directory (YAML)."
    )
    host: str = Field(default="127.0.0.1", description="Intake HTTP bind address.")
    port: int = Field(default=8000, description="Intake HTTP port.")
    metrics_port: int = Field(
        default=0,
        ge=0,
        description="Port of this process's own Prometheus /metrics endpoint (0: none). Set it "
        "for the router and notifier processes; intake serves /metrics on its HTTP port.",
    )
    metrics_host: str = Field(
        default="127.0.0.1", description="Bind address of that metrics endpoint."
    )
    public_url: str = Field(
        default_factory=lambda data: _local_url(data["host"], data["port"]),
        description="Base URL used in links and status URLs (default: http://HOST:PORT of "
        "this process, 127.0.0.1 when it listens on every address).",
    )
    smtp_host: str | None = Field(
        default=None, description="SMTP server; unset writes .eml files to mail_dir instead."
    )
    smtp_port: int = Field(default=25, description="SMTP port.")
    smtp_sender: str = Field(default="referrals@vrp.example", description="From address.")
    mail_dir: Path = Field(default=Path("var/mail"), description="File sink when no SMTP host.")
    notify_api_key: SecretStr | None = Field(
        default=None,
        description="GOV.UK Notify API key; SMS (and email, when the configuration says so) "
        "go through Notify. Unset: such alerts fail visibly and the hub is told.",
    )
    alert_first_retry: float = Field(
        default=2.0,
        gt=0,
        description="Seconds before an alert's first retry; each later one waits twice as "
        "long (with jitter, at most 15 minutes), 8 attempts in all.",
    )
    notify_base_url: str = Field(
        default="https://api.notifications.service.gov.uk", description="GOV.UK Notify API."
    )
    pseudonym_key: SecretStr = Field(
        default=SecretStr("change-me-demo-only-pseudonym-key"),
        description="HMAC key for subject pseudonyms; set a long random secret in production.",
    )
    demo_partners: bool = Field(
        default=False, description="Seed the demo partners' published API keys (demo only)."
    )
    demo_speed: int = Field(
        default=1,
        ge=1,
        le=3600,
        description="Demo and training clock: SLA timers (respond-by, reminder, escalation) "
        "run this many times faster. Anything but 1 is refused unless the configuration is "
        "the packaged demo's and VRP_ENVIRONMENT is not production.",
    )
    environment: str = Field(
        default="",
        max_length=40,
        description="What this deployment is (e.g. production, staging, demo); production "
        "refuses the demo clock.",
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="Logs on stderr: text for people, json for one object per line (time, "
        "level, logger, message, service, trace and span ids) for a log collector.",
    )
    poll_interval: float = Field(default=0.5, description="Seconds between idle outbox polls.")
    outbox_retention_hours: float = Field(
        default=24.0,
        gt=0,
        description="Hours an outbox row (which may carry a whole referral) is kept once "
        "published (Kafka), or once every consumer reading its topic has read it (embedded).",
    )
    referral_retention_days: int = Field(
        default=365,
        ge=1,
        description="Days a referral never disclosed is kept whole; a disclosed one is kept "
        "for the longest retention_days of the flows it was disclosed under.",
    )
    dead_letter_retention_days: int = Field(
        default=30, ge=1, description="Days a dead-lettered original event is kept."
    )
    retention_interval_hours: float = Field(
        default=1.0, gt=0, description="Intake: hours between referral retention runs."
    )
    consumer_batch: int = Field(
        default=500, ge=1, description="Most events a consumer handles in one transaction."
    )
    rate_limit_per_second: float = Field(
        default=50.0,
        description="Intake: sustained requests per second per partner organisation, per replica.",
    )
    rate_limit_burst: int = Field(
        default=100, description="Intake: requests a partner may burst above the sustained rate."
    )
    max_body_bytes: int = Field(
        default=64 * 1024, description="Intake: largest request body accepted (413 above)."
    )
    geography_refresh_seconds: float = Field(
        default=30.0,
        ge=0,
        description="Intake: seconds it remembers postcode lookups and whether a postcode "
        "directory is loaded (a directory loaded meanwhile is in force within this time).",
    )
    auth_cache_seconds: float = Field(
        default=5.0,
        description="Intake: seconds a verified credential is trusted without a database "
        "lookup (so a revocation reaches each replica within this time; 0 disables).",
    )
    access_token_ttl: int = Field(
        default=300, description="Intake: lifetime in seconds of OAuth access tokens."
    )
    max_header_bytes: int = Field(
        default=16 * 1024,
        ge=1024,
        description="Intake: request line and headers together, in bytes (431 above).",
    )
    max_headers: int = Field(
        default=100, ge=10, description="Intake: header fields in one request (431 above)."
    )
    header_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="Intake: seconds from a connection (or its next request) to the end of "
        "the headers (408 after).",
    )
    body_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Intake: seconds from the end of the headers to the end of the body (408 "
        "after).",
    )
    max_connections: int = Field(
        default=1000, ge=1, description="Intake: open connections per process (503 above)."
    )
    max_in_flight: int = Field(
        default=200,
        ge=1,
        description=(
            "Intake: requests being handled at once per process, for the partner API and for "
            "the web console each (503 + Retry-After above)."
        ),
    )
    auth_failures_per_key: int = Field(
        default=10,
        ge=1,
        description="Intake: failed authentications for one API key id or OAuth client in "
        "auth_failure_window_seconds before it is locked out (429).",
    )
    auth_failures_per_address: int = Field(
        default=50,
        ge=1,
        description="Intake: failed authentications from one client address in "
        "auth_failure_window_seconds before it is locked out (429).",
    )
    auth_failure_window_seconds: float = Field(
        default=60.0, gt=0, description="Intake: the window those failures are counted in."
    )
    auth_backoff_seconds: float = Field(
        default=1.0,
        gt=0,
        description="Intake: the first lockout; each further one within a window doubles it.",
    )
    auth_backoff_max_seconds: float = Field(
        default=300.0, gt=0, description="Intake: the longest lockout."
    )
    max_validation_errors: int = Field(
        default=20, ge=1, description="Intake: field errors listed in one 422 (the rest counted)."
    )
    console_session_hours: float = Field(
        default=8.0, gt=0, description="Console: hours a sign-in lasts at most."
    )
    console_idle_minutes: float = Field(
        default=30.0, gt=0, description="Console: minutes without a request that end a session."
    )
    console_lockout_after: int = Field(
        default=5,
        ge=1,
        description="Console: consecutive failed sign-ins that lock an account (for one "
        "minute, doubling with each further failure up to an hour; vrp users reset unlocks).",
    )
    console_password_workers: int = Field(
        default=1,
        ge=1,
        description="Console: password checks (argon2: tens to hundreds of milliseconds of "
        "CPU and 64 MiB each) run at once, on worker threads off the event loop. One leaves "
        "CPU for the partner API on a small machine.",
    )
    console_password_queue: int = Field(
        default=64,
        ge=0,
        description="Console: sign-ins that may wait for a password check; more at once are "
        "refused (503 + Retry-After) before any work is done.",
    )
    console_evidence_fresh_seconds: float = Field(
        default=900.0,
        ge=0,
        description="Console evidence pages: seconds computed figures are shown again before "
        "they are recomputed (in the background, the older ones shown meanwhile); the "
        "figures the pages open on are kept prepared. 0 computes them for every request.",
    )
    console_evidence_wait_seconds: float = Field(
        default=1.0,
        ge=0,
        description="Console evidence pages: seconds a page waits for figures not yet "
        "prepared before it answers 'being prepared' (202) and reloads itself.",
    )
    console_disclosure_threshold: int = Field(
        default=5,
        ge=1,
        description="Console dashboard: counts below this are suppressed (and enough others "
        "that they cannot be worked out from totals).",
    )

    @property
    def is_sqlite(self) -> bool:
        """True when the store is an embedded SQLite file."""
        return self.database_url.startswith("sqlite")
