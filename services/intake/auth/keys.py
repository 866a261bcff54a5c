"""Partner API keys: random, shown once, stored only as a hash, revocable."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from vrp.domain.audit import CREDENTIAL, Entry
from vrp.store import credentials
from vrp.store.unit import Unit

SCOPES = ("referrals:submit", "referrals:read", "referrals:respond")
_ALPHABET = string.ascii_lowercase + string.digits


@dataclass(frozen=True)
class Partner:
    """The organisation a request acts for, established from its credentials."""

    organisation: str
    key_id: str
    scopes: frozenset[str]
    expires_at: datetime | None = None


class AuthCache:
    """Recently verified credentials, so a busy partner costs no database round trip per
    request. Revocation therefore takes up to `seconds` to reach each replica."""

    def __init__(
        self,
        seconds: float,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self.max_entries = max_entries
        self._clock = clock  # injected so a test can move time instead of sleeping
        self._entries: dict[str, tuple[Partner, float]] = {}

    def get(self, token: str) -> Partner | None:
        """The cached partner for a token, unless it is stale or expired."""
        if self.seconds <= 0:
            return None
        entry = self._entries.get(_hash(token))
        if entry is None:
            return None
        partner, until = entry
        now = self._clock()
        if now >= until or (partner.expires_at and partner.expires_at <= datetime.now(UTC)):
            self._entries.pop(_hash(token), None)
            return None
        return partner

    def put(self, token: str, partner: Partner) -> None:
        """Remember a verified token (only its hash is kept)."""
        if self.seconds <= 0:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[_hash(token)] = (partner, self._clock() + self.seconds)


def _hash(secret: str) -> str:
    # Secrets are 190-bit random strings, so a fast hash is enough (unlike passwords).
    return hashlib.sha256(secret.encode()).hexdigest()


def format_key(key_id: str, secret: str) -> str:
    """The string a partner sends as its bearer token."""
    return f"vrp_{key_id}_{secret}"


async def issue(
    unit: Unit,
    organisation: str,
    scopes: tuple[str, ...] = SCOPES,
    key_id: str | None = None,
    secret: str | None = None,
    actor: str = "cli",
) -> str:
    """Create a key for an organisation and return it; only its hash is stored."""
    key_id = key_id or "".join(secrets.choice(_ALPHABET) for _ in range(12))
    secret = secret or secrets.token_urlsafe(24)
    await credentials.add_key(
        unit, key_id, organisation, _hash(secret), " ".join(scopes), datetime.now(UTC)
    )
    audit_credential(unit, actor, "api-key-issued", organisation, [key_id], scopes=" ".join(scopes))
    return format_key(key_id, secret)


def audit_credential(
    unit: Unit, actor: str, action: str, organisation: str, ids: list[str], **more: str
) -> None:
    """Record a credential change in the audit chain (ids only, never a secret or hash)."""
    detail = {"action": action, "organisation": organisation, "ids": sorted(ids), **more}
    unit.audit(Entry(CREDENTIAL, actor, None, None, detail))


async def revoke(
    unit: Unit, organisation: str, key_id: str | None = None, actor: str = "cli"
) -> int:
    """Revoke at once every live key of an organisation (or just key_id); returns how many."""
    revoked = await credentials.revoke_keys(unit, organisation, datetime.now(UTC), key_id)
    audit_credential(unit, actor, "api-key-revoked", organisation, revoked)
    return len(revoked)


class RotationRefused(ValueError):
    """No single set of scopes to carry over (no live key, or live keys that differ)."""


async def rotate(
    unit: Unit,
    organisation: str,
    grace: timedelta = timedelta(hours=24),
    actor: str = "cli",
    key_id: str | None = None,
) -> str:
    """Issue a new key with the same scopes as the live one(s) it replaces (all live keys,
    or just key_id); those stop working after grace. Never widens: keys with different
    scopes must be rotated one at a time, and an organisation with no live key gets none."""
    now = datetime.now(UTC)
    live = await credentials.live_key_scopes(unit, organisation, now, key_id)
    if not live:
        raise RotationRefused("no live key to rotate; issue one with 'vrp partners add'")
    kinds = {frozenset(scopes.split()) for scopes in live.values()}
    if len(kinds) > 1:
        raise RotationRefused("the live keys have different scopes; rotate each with --key-id")
    scopes = sorted(kinds.pop())
    until = now + grace
    ids = list(live)
    await credentials.expire_keys(unit, ids, until)
    audit_credential(unit, actor, "api-key-rotated", organisation, ids, expires=until.isoformat())
    return await issue(unit, organisation, tuple(scopes), actor=actor)


def key_id(token: str) -> str | None:
    """The key id an API key names (vrp_<key id>_<secret>), or None for anything else."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != "vrp" or not 0 < len(parts[1]) <= 64:
        return None
    return f"key:{parts[1]}"


async def authenticate(unit: Unit, token: str) -> Partner | None:
    """The partner a bearer token belongs to, or None for unknown, malformed or revoked keys."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != "vrp":
        return None
    row = await credentials.live_key(unit, parts[1], datetime.now(UTC))
    if row is None or not hmac.compare_digest(row.secret_hash, _hash(parts[2])):
        return None
    return Partner(row.organisation, row.key_id, frozenset(row.scopes.split()))
