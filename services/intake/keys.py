"""Partner API keys: random, shown once, stored only as a hash, revocable."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from vrp.store.tables import api_keys

SCOPES = ("referrals:submit", "referrals:read", "referrals:respond")
_ALPHABET = string.ascii_lowercase + string.digits


@dataclass(frozen=True)
class Partner:
    """The organisation a request acts for, established from its credentials."""

    organisation: str
    key_id: str
    scopes: frozenset[str]


def _hash(secret: str) -> str:
    # Secrets are 190-bit random strings, so a fast hash is enough (unlike passwords).
    return hashlib.sha256(secret.encode()).hexdigest()


def format_key(key_id: str, secret: str) -> str:
    """The string a partner sends as its bearer token."""
    return f"vrp_{key_id}_{secret}"


async def issue(
    conn: AsyncConnection,
    organisation: str,
    scopes: tuple[str, ...] = SCOPES,
    key_id: str | None = None,
    secret: str | None = None,
) -> str:
    """Create a key for an organisation and return it; only its hash is stored."""
    key_id = key_id or "".join(secrets.choice(_ALPHABET) for _ in range(12))
    secret = secret or secrets.token_urlsafe(24)
    await conn.execute(
        api_keys.insert().values(
            key_id=key_id,
            organisation=organisation,
            secret_hash=_hash(secret),
            scopes=" ".join(scopes),
            created_at=datetime.now(UTC),
        )
    )
    return format_key(key_id, secret)


async def revoke(conn: AsyncConnection, organisation: str) -> int:
    """Revoke every live key of an organisation; returns how many."""
    result = await conn.execute(
        update(api_keys)
        .where(api_keys.c.organisation == organisation, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
    return int(result.rowcount)


async def authenticate(conn: AsyncConnection, token: str) -> Partner | None:
    """The partner a bearer token belongs to, or None for unknown, malformed or revoked keys."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != "vrp":
        return None
    row = (
        await conn.execute(
            select(api_keys).where(api_keys.c.key_id == parts[1], api_keys.c.revoked_at.is_(None))
        )
    ).first()
    if row is None or not hmac.compare_digest(row.secret_hash, _hash(parts[2])):
        return None
    return Partner(row.organisation, row.key_id, frozenset(row.scopes.split()))
