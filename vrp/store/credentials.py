"""Partner credentials as stored: API keys and access tokens (hashes only, never a secret),
OAuth clients with their public keys, and the client assertions already used."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, or_, select, update

from vrp.store.tables import access_tokens, api_keys, oauth_assertions, oauth_clients
from vrp.store.unit import Unit


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One stored API key: whose, with which scopes, and until when."""

    key_id: str
    organisation: str
    secret_hash: str
    scopes: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class OAuthClient:
    """One registered OAuth client and its public keys (a JWKS document)."""

    client_id: str
    organisation: str
    jwks: dict[str, Any]
    scopes: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class AccessToken:
    """What an issued access token stands for."""

    client_id: str
    organisation: str
    scopes: str
    expires_at: datetime


def _live(at: datetime) -> ColumnElement[bool]:
    # A rotated key keeps working until its revoked_at, so "revoked" is a time, not a flag.
    return or_(api_keys.c.revoked_at.is_(None), api_keys.c.revoked_at > at)


async def add_key(
    unit: Unit, key_id: str, organisation: str, secret_hash: str, scopes: str, at: datetime
) -> None:
    """Store a new API key by its secret's hash."""
    # Written at once, not staged: a rotation later in the same unit must see it.
    await unit.conn.execute(
        api_keys.insert().values(
            key_id=key_id,
            organisation=organisation,
            secret_hash=secret_hash,
            scopes=scopes,
            created_at=at,
        )
    )


async def live_key(unit: Unit, key_id: str, now: datetime) -> ApiKey | None:
    """The API key with this id, unless it is revoked by now."""
    row = (
        await unit.conn.execute(select(api_keys).where(api_keys.c.key_id == key_id, _live(now)))
    ).first()
    return None if row is None else ApiKey(**row._mapping)


async def live_key_scopes(
    unit: Unit, organisation: str, now: datetime, key_id: str | None = None
) -> dict[str, str]:
    """The scopes of each live key of an organisation (or just key_id), by key id."""
    where = [api_keys.c.organisation == organisation, _live(now)]
    if key_id is not None:
        where.append(api_keys.c.key_id == key_id)
    rows = await unit.conn.execute(select(api_keys.c.key_id, api_keys.c.scopes).where(*where))
    return {r.key_id: r.scopes for r in rows}


async def revoke_keys(
    unit: Unit, organisation: str, at: datetime, key_id: str | None = None
) -> list[str]:
    """Revoke at `at` every key of an organisation (or just key_id) live then; their ids."""
    where = [api_keys.c.organisation == organisation, _live(at)]
    if key_id is not None:
        where.append(api_keys.c.key_id == key_id)
    result = await unit.conn.execute(
        update(api_keys).where(*where).values(revoked_at=at).returning(api_keys.c.key_id)
    )
    return list(result.scalars())


async def expire_keys(unit: Unit, key_ids: list[str], until: datetime) -> None:
    """Let each key work until `until` and no longer (a key ending sooner keeps its end)."""
    for key_id in key_ids:
        await unit.conn.execute(
            update(api_keys)
            .where(api_keys.c.key_id == key_id, _live(until))
            .values(revoked_at=until)
        )


async def revoke_keys_named(unit: Unit, prefix: str, at: datetime) -> None:
    """Revoke every unrevoked key whose id starts with prefix (the published demo keys)."""
    await unit.conn.execute(
        update(api_keys)
        .where(api_keys.c.key_id.startswith(prefix), api_keys.c.revoked_at.is_(None))
        .values(revoked_at=at)
    )


async def key_ids(unit: Unit) -> set[str]:
    """The id of every key ever issued, revoked or not."""
    return set((await unit.conn.execute(select(api_keys.c.key_id))).scalars())


async def keys(unit: Unit, organisation: str | None = None) -> list[ApiKey]:
    """Every key (of one organisation, when given), by organisation."""
    query = select(api_keys).order_by(api_keys.c.organisation)
    if organisation:
        query = query.where(api_keys.c.organisation == organisation)
    return [ApiKey(**r._mapping) for r in await unit.conn.execute(query)]


async def add_client(
    unit: Unit,
    client_id: str,
    organisation: str,
    jwks: dict[str, Any],
    scopes: str,
    at: datetime,
) -> None:
    """Register an OAuth client with its public keys."""
    await unit.conn.execute(
        oauth_clients.insert().values(
            client_id=client_id,
            organisation=organisation,
            jwks=jwks,
            scopes=scopes,
            created_at=at,
        )
    )


async def live_client(unit: Unit, client_id: str) -> OAuthClient | None:
    """The OAuth client with this id, unless it is revoked."""
    row = (
        await unit.conn.execute(
            select(oauth_clients).where(
                oauth_clients.c.client_id == client_id, oauth_clients.c.revoked_at.is_(None)
            )
        )
    ).first()
    return None if row is None else OAuthClient(**row._mapping)


async def clients(unit: Unit, organisation: str | None = None) -> list[OAuthClient]:
    """Every OAuth client (of one organisation, when given), by organisation."""
    query = select(oauth_clients).order_by(oauth_clients.c.organisation)
    if organisation:
        query = query.where(oauth_clients.c.organisation == organisation)
    return [OAuthClient(**r._mapping) for r in await unit.conn.execute(query)]


async def revoke_clients(unit: Unit, organisation: str, at: datetime) -> list[str]:
    """Revoke an organisation's OAuth clients and end their access tokens; the clients' ids."""
    result = await unit.conn.execute(
        update(oauth_clients)
        .where(oauth_clients.c.organisation == organisation, oauth_clients.c.revoked_at.is_(None))
        .values(revoked_at=at)
        .returning(oauth_clients.c.client_id)
    )
    revoked = list(result.scalars())
    await unit.conn.execute(
        delete(access_tokens).where(access_tokens.c.organisation == organisation)
    )
    return revoked


async def forget_expired(unit: Unit, now: datetime) -> None:
    """Delete assertion ids and access tokens that expired before now."""
    await unit.conn.execute(delete(oauth_assertions).where(oauth_assertions.c.expires_at < now))
    await unit.conn.execute(delete(access_tokens).where(access_tokens.c.expires_at < now))


async def first_use(unit: Unit, client_id: str, jti: str, expires_at: datetime) -> bool:
    """Record a client assertion's id; False when the client already used it (a replay)."""
    return await unit.db.insert_ignore(
        unit.conn, oauth_assertions, client_id=client_id, jti=jti, expires_at=expires_at
    )


async def add_access_token(
    unit: Unit,
    token_hash: str,
    client_id: str,
    organisation: str,
    scopes: str,
    expires_at: datetime,
) -> None:
    """Store an issued access token by its hash."""
    await unit.conn.execute(
        access_tokens.insert().values(
            token_hash=token_hash,
            client_id=client_id,
            organisation=organisation,
            scopes=scopes,
            expires_at=expires_at,
        )
    )


async def live_access_token(unit: Unit, token_hash: str, now: datetime) -> AccessToken | None:
    """The access token with this hash, unless it has expired by now."""
    row = (
        await unit.conn.execute(
            select(
                access_tokens.c.client_id,
                access_tokens.c.organisation,
                access_tokens.c.scopes,
                access_tokens.c.expires_at,
            ).where(access_tokens.c.token_hash == token_hash, access_tokens.c.expires_at > now)
        )
    ).first()
    return None if row is None else AccessToken(**row._mapping)
