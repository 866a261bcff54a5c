"""The audit chain's pure parts: record kinds, canonical form, hashes, pseudonyms."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from vrp.domain.identifiers import pseudonym

DISCLOSURE = "disclosure"
READ = "read"
CONFIG_LOADED = "config-loaded"
CONSENT_OVERRIDE = "consent-override"
MANUAL_ROUTING = "manual-routing"
HUB_ACTION = "hub-action"
"""The hub acting on a referral from its console: closing it, chasing a team, enabling a
team's webhook again (`detail.action` says which; routing by hand is MANUAL_ROUTING)."""
CREDENTIAL = "credential"
RETENTION = "retention"
SIGN_IN = "sign-in"
SIGN_IN_FAILED = "sign-in-failed"
LOCKOUT = "lockout"
SIGN_OUT = "sign-out"
EVIDENCE_EXPORT = "evidence-export"
"""An analyst's record-level export of the evidence facts (`vrp evidence export --records`):
`detail` names the account, the period and how many rows left the system."""
ACCESS = (SIGN_IN, SIGN_IN_FAILED, LOCKOUT, SIGN_OUT)
"""People's console access: who signed in and out, which attempts failed, which locked."""
KINDS = (
    DISCLOSURE,
    READ,
    CONFIG_LOADED,
    CONSENT_OVERRIDE,
    MANUAL_ROUTING,
    HUB_ACTION,
    CREDENTIAL,
    RETENTION,
    *ACCESS,
    EVIDENCE_EXPORT,
)
GENESIS = "0" * 64
"""The prev_hash of the first record."""


def nhs_pseudonym(key: bytes, nhs_number: str) -> str:
    """The router's pseudonym of a person known by NHS number."""
    return pseudonym(key, "nhs", nhs_number)


@dataclass(frozen=True)
class Entry:
    """What a caller audits; the chain adds sequence number, time and hashes."""

    kind: str
    actor: str
    referral_id: str | None = None
    subject: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Refuse unknown kinds, so a typo cannot create a record nobody queries."""
        if self.kind not in KINDS:
            raise ValueError(f"unknown audit kind {self.kind!r}")


def timestamp(at: datetime) -> str:
    """The time as hashed: UTC, microseconds, the precision both databases keep."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def canonical(
    seq: int,
    at: datetime,
    kind: str,
    actor: str,
    referral_id: str | None,
    subject: str | None,
    detail: dict[str, Any],
    prev_hash: str,
) -> bytes:
    """One record's bytes: sorted keys, no spaces, so any reader can recompute the hash."""
    fields = [seq, timestamp(at), kind, actor, referral_id, subject, detail, prev_hash]
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest(
    seq: int,
    at: datetime,
    kind: str,
    actor: str,
    referral_id: str | None,
    subject: str | None,
    detail: dict[str, Any],
    prev_hash: str,
) -> str:
    """SHA-256 of the canonical form, hex."""
    data = canonical(seq, at, kind, actor, referral_id, subject, detail, prev_hash)
    return hashlib.sha256(data).hexdigest()
