"""SQLAlchemy tables. Each service owns its tables; outbox and processed_events are plumbing.
The evidence tables are defined beside, in vrp/store/evidence_tables.py, on the same metadata."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from vrp.store.columns import Serial as _Serial
from vrp.store.columns import Time as _Time
from vrp.store.columns import metadata as metadata
from vrp.store.evidence_tables import deprivation as deprivation
from vrp.store.evidence_tables import populations as populations
from vrp.store.evidence_tables import referral_facts as referral_facts

outbox = Table(
    "outbox",
    metadata,
    Column("id", _Serial, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("producer", String(32), nullable=False),
    Column("topic", String(249), nullable=False),
    Column("key", String(100), nullable=False),
    Column("value", LargeBinary, nullable=False),
    Column("traceparent", String(64)),
    Column("created_at", _Time, nullable=False),
    Column("published_at", _Time),
    Index("ix_outbox_unpublished", "producer", "published_at", "id"),
    Index("ix_outbox_topic", "topic", "id"),
)

processed_events = Table(
    "processed_events",
    metadata,
    Column("consumer", String(64), primary_key=True),
    Column("event_id", String(36), primary_key=True),
    Column("processed_at", _Time, nullable=False),
)

consumer_positions = Table(
    "consumer_positions",
    metadata,
    Column("consumer", String(64), primary_key=True),
    Column("position", BigInteger, nullable=False),
)

# Every consumer: the events it dead-lettered, exactly as they arrived. They may hold personal
# data, so they never leave the database (the dead-letter event carries only this row's id).
# event_id, position and reason derive from whatever arrived: no length limit, so storing a
# poison event cannot fail (a failing write would make the worker retry its batch for ever).
dead_letter_originals = Table(
    "dead_letter_originals",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("event_id", Text),
    Column("consumer", String(64), nullable=False),
    Column("topic", String(249), nullable=False),
    Column("position", Text, nullable=False),
    Column("original", LargeBinary, nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_at", _Time, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("organisation", String(64), nullable=False, index=True),
    Column("secret_hash", String(64), nullable=False),
    Column("scopes", String(200), nullable=False),
    Column("created_at", _Time, nullable=False),
    Column("revoked_at", _Time),
)

referrals = Table(
    "referrals",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("reference", String(16), nullable=False, index=True),
    Column("source_org", String(64), nullable=False),
    Column("idempotency_key", String(200), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("status", String(20), nullable=False),
    Column("local_authority", String(9)),
    Column("body", JSON, nullable=False),
    Column("created_at", _Time, nullable=False),
    Column("updated_at", _Time, nullable=False),
    Column("reduced_at", _Time),  # retention reduced body to coded facts (vrp/store/reduction.py)
    UniqueConstraint("source_org", "idempotency_key", name="uq_referrals_idempotency"),
)

referral_timeline = Table(
    "referral_timeline",
    metadata,
    Column("event_id", String(36), primary_key=True),
    Column("referral_id", String(36), nullable=False, index=True),
    Column("type", String(100), nullable=False),
    Column("at", _Time, nullable=False),
    Column("detail", JSON, nullable=False),
)

decisions = Table(
    "decisions",
    metadata,
    Column("referral_id", String(36), primary_key=True),
    Column("event_id", String(36), nullable=False),
    Column("config_version", String(16), nullable=False),
    Column("outcome", String(10), nullable=False),
    Column("detail", JSON, nullable=False),
    Column("facts", JSON),
    Column("chosen", String(1000)),
    Column("decided_at", _Time, nullable=False),
)

disclosures = Table(
    "disclosures",
    metadata,
    Column("event_id", String(36), primary_key=True),
    Column("referral_id", String(36), nullable=False, index=True),
    Column("organisation", String(64), nullable=False),
    Column("intervention", String(64), nullable=False),
    Column("agreement_id", String(64), nullable=False),
    Column("agreement_version", Integer, nullable=False),
    Column("flow_id", String(64), nullable=False),
    Column("items", JSON, nullable=False),
    Column("config_version", String(16), nullable=False),
    Column("disclosed_at", _Time, nullable=False),
)

routed = Table(
    "routed",
    metadata,
    Column("referral_id", String(36), primary_key=True),
    Column("intervention", String(64), primary_key=True),
    Column("organisation", String(64), nullable=False),
    Column("status", String(20), nullable=False),
    Index("ix_routed_open", "intervention", "status"),
)

subject_index = Table(
    "subject_index",
    metadata,
    Column("pseudonym", String(32), primary_key=True),
    Column("referral_id", String(36), primary_key=True),
    Column("referred_at", _Time, nullable=False),
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("dedupe_key", String(200), nullable=False, unique=True),
    Column("referral_id", String(36), nullable=False, index=True),
    Column("organisation", String(64), nullable=False),
    Column("channel", String(10), nullable=False),
    Column("address", String(1000), nullable=False),
    Column("status", String(10), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", String(200)),
    Column("traceparent", String(64)),
    Column("created_at", _Time, nullable=False),
    Column("next_attempt_at", _Time, nullable=False),
    Column("sent_at", _Time),
    Column("kind", String(20), nullable=False, server_default="new-referral"),
    # What the alert says (codes and times, never personal data), fixed when it is staged.
    Column("detail", JSON, nullable=False, server_default="{}"),
    Index("ix_notifications_due", "status", "next_attempt_at"),
)

# Notifier: every delivery attempt, for the hub and for on-call ("did the webhook answer?").
delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("id", _Serial, primary_key=True, autoincrement=True),
    Column("notification_id", String(36), nullable=False, index=True),
    Column("attempt", Integer, nullable=False),
    Column("channel", String(10), nullable=False),
    Column("outcome", String(10), nullable=False),
    Column("status_code", Integer),
    Column("latency_ms", Integer, nullable=False),
    Column("error", String(200)),
    Column("at", _Time, nullable=False),
)

# Notifier: stored timers (reminders and escalations); the row is the truth, so they survive
# restarts and fire once however many notifiers run.
timers = Table(
    "timers",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("dedupe_key", String(200), nullable=False, unique=True),
    Column("referral_id", String(36), nullable=False, index=True),
    Column("organisation", String(64), nullable=False),
    Column("intervention", String(64), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("due_at", _Time, nullable=False),
    Column("status", String(10), nullable=False),
    Column("detail", JSON, nullable=False),
    Column("traceparent", String(64)),
    Column("created_at", _Time, nullable=False),
    Column("fired_at", _Time),
    Index("ix_timers_due", "status", "due_at"),
)

# Notifier: webhook endpoints that answered 410 Gone; nothing more is sent to them.
disabled_endpoints = Table(
    "disabled_endpoints",
    metadata,
    Column("organisation", String(64), primary_key=True),
    Column("url", String(1000), primary_key=True),
    Column("disabled_at", _Time, nullable=False),
    Column("reason", String(200), nullable=False),
)

# Intake: each partner's inbox of referrals routed to it, exactly as minimised for it.
received_referrals = Table(
    "received_referrals",
    metadata,
    Column("referral_id", String(36), primary_key=True),
    Column("intervention", String(64), primary_key=True),
    Column("organisation", String(64), nullable=False),
    Column("reference", String(16), nullable=False),
    Column("event_id", String(36), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("status", String(20), nullable=False),
    Column("reason", String(40)),
    Column("outcome", String(40)),
    Column("received_at", _Time, nullable=False),
    Column("updated_at", _Time, nullable=False),
    Column("reduced_at", _Time),  # retention emptied payload
    # When the receiver accepted, first made contact with the person, and declined or
    # completed (the evaluation's funnel and its times; kept after retention).
    Column("accepted_at", _Time),
    Column("first_contact_at", _Time),
    Column("closed_at", _Time),
    # 'offer': an intervention's offer to its organisation; 'triage': the hub's copy of a
    # held referral (its intervention column holds the hub-triage purpose).
    Column("kind", String(10), nullable=False, server_default="offer"),
    Index("ix_received_referrals_inbox", "organisation", "received_at", "referral_id"),
    # The evidence's periods: offers made, and offers declined or completed, in a period.
    Index("ix_received_referrals_offered", "received_at"),
    Index("ix_received_referrals_closed", "closed_at"),
)

# Intake: OAuth 2.0 clients (RFC 7523 private_key_jwt) with their registered public keys.
oauth_clients = Table(
    "oauth_clients",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("organisation", String(64), nullable=False, index=True),
    Column("jwks", JSON, nullable=False),
    Column("scopes", String(200), nullable=False),
    Column("created_at", _Time, nullable=False),
    Column("revoked_at", _Time),
)

# Intake: client-assertion ids already used (replay protection until they expire).
oauth_assertions = Table(
    "oauth_assertions",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("jti", String(200), primary_key=True),
    Column("expires_at", _Time, nullable=False, index=True),
)

# Intake: short-lived opaque access tokens, stored only as hashes.
access_tokens = Table(
    "access_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("client_id", String(64), nullable=False),
    Column("organisation", String(64), nullable=False),
    Column("scopes", String(200), nullable=False),
    Column("expires_at", _Time, nullable=False, index=True),
)

# Audit: an append-only, hash-chained record of disclosures, reads, configuration versions,
# consent overrides, manual routing and credential changes (vrp/store/audit.py). Ids and
# codes only: the subject is the router's pseudonym, never an identifier.
audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at", _Time, nullable=False),
    Column("kind", String(20), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("referral_id", String(36), index=True),
    Column("subject", String(32), index=True),
    Column("detail", JSON, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

# Audit: records written but not yet chained. Writers insert here in their own transaction,
# taking no lock; the sealer (vrp/store/sealer.py) moves them onto the chain in order.
audit_pending = Table(
    "audit_pending",
    metadata,
    Column("id", _Serial, primary_key=True, autoincrement=True),
    Column("at", _Time, nullable=False),
    Column("kind", String(20), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("referral_id", String(36)),
    Column("subject", String(32)),
    Column("detail", JSON, nullable=False),
)

# Audit: the chain's last record; locking this row serialises sealers across processes.
audit_head = Table(
    "audit_head",
    metadata,
    Column("chain", String(16), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

# Console: people's local accounts (argon2 hashes) and their sessions (only the token's
# SHA-256 is stored, so a copy of the table signs nobody in).
console_users = Table(
    "console_users",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("username", String(120), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False),
    Column("organisation", String(100), nullable=False),
    Column("role", String(40), nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("failed_logins", Integer, nullable=False, server_default="0"),
    Column("locked_until", _Time),
    Column("disabled_at", _Time),
    Column("created_at", _Time, nullable=False),
    Column("password_changed_at", _Time, nullable=False),
)

console_sessions = Table(
    "console_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", String(36), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", _Time, nullable=False),
    Column("expires_at", _Time, nullable=False),
    Column("last_seen_at", _Time, nullable=False),
    Column("ended_at", _Time),
)

# Geography: each live postcode's local authority (ONS code), loaded from an ONS Postcode
# Directory extract by `vrp geography load`; empty means the built-in West Midlands table.
postcode_areas = Table(
    "postcode_areas",
    metadata,
    Column("postcode", String(8), primary_key=True),
    Column("local_authority", String(9), nullable=False),
    Column("lsoa", String(9)),  # Lower-layer Super Output Area, when the directory has it
)

# The FHIR door: each message a sender posted (its X-Request-ID), the conversation it
# belongs to and where replies go. Ids and endpoints only, no personal data.
fhir_messages = Table(
    "fhir_messages",
    metadata,
    Column("source_org", String(64), primary_key=True),
    Column("request_id", String(200), primary_key=True),
    Column("reason", String(10), nullable=False),
    Column("bundle_id", String(200), nullable=False),
    Column("correlation_id", String(200)),
    Column("request_hash", String(64), nullable=False),
    Column("referral_id", String(36), index=True),
    Column("service_request_id", String(64), nullable=False),
    Column("source_endpoint", String(500)),
    Column("category", String(64)),
    Column("ods_code", String(20)),
    Column("received_at", _Time, nullable=False),
    Index("ix_fhir_messages_request", "source_org", "service_request_id"),
    # A ServiceRequest refers once: sending it again (with a new X-Request-ID) is a duplicate.
    Index(
        "uq_fhir_messages_new",
        "source_org",
        "service_request_id",
        unique=True,
        sqlite_where=text("reason = 'new'"),
        postgresql_where=text("reason = 'new'"),
    ),
)
