"""`vrp partners add|rotate|revoke|list`: partner credentials (API keys and OAuth clients),
each change an audit record, and the partner's Kafka login kept in step."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from vrp.settings import Settings
from vrp.store.database import Database


class _Refused(Exception):
    """A command refused before or while acting; the message says why (exit 2)."""


async def cmd_partners(args: argparse.Namespace) -> int:
    """Add, rotate, revoke or list partner credentials (API keys and OAuth clients)."""
    from vrp.store.database import Database

    settings = Settings()
    try:
        scopes, jwks = _partner_request(args, settings)
        db = Database(settings.database_url)
        try:
            if args.action == "add" and jwks is not None:
                await _register_client(db, args, settings, scopes, jwks)
            elif args.action in ("add", "rotate"):
                await _issue_key(db, args, settings, scopes)
            elif args.action == "revoke":
                await _revoke_credentials(db, args, settings)
            else:
                await _list_credentials(db, args)
        finally:
            await db.dispose()
    except _Refused as refused:
        print(refused, file=sys.stderr)
        return 2
    return 0


def _partner_request(
    args: argparse.Namespace, settings: Settings
) -> tuple[tuple[str, ...], dict[str, Any] | None]:
    """The scopes and JWKS a partners command asked for, checked before anything changes."""
    from services.commands.kafka import login_problem
    from services.intake.auth import keys, oauth
    from vrp.config_files import load_configuration

    if args.action != "list" and (problem := login_problem(settings)):
        raise _Refused(problem)  # before issuing a key the broker side would miss
    scopes = tuple(args.scopes.split(",")) if args.scopes else keys.SCOPES
    unknown = set(scopes) - set(keys.SCOPES)
    if unknown:
        raise _Refused(f"unknown scope(s) {sorted(unknown)}; use {','.join(keys.SCOPES)}")
    known = load_configuration(settings.config_dir).organisation(args.org or "") is not None
    if args.action in ("add", "rotate") and not known:
        raise _Refused(f"unknown organisation {args.org!r}")
    if not args.jwks_file:
        return scopes, None
    try:
        jwks: dict[str, Any] = json.loads(Path(args.jwks_file).read_text())
        oauth.parse_jwks(jwks)
    except (OSError, ValueError) as exc:  # InvalidJwks and JSON errors are ValueErrors
        reason = exc if isinstance(exc, oauth.InvalidJwks) else type(exc).__name__
        raise _Refused(f"cannot register {args.jwks_file}: {reason}") from None
    return scopes, jwks


async def _register_client(
    db: Database,
    args: argparse.Namespace,
    settings: Settings,
    scopes: tuple[str, ...],
    jwks: dict[str, Any],
) -> None:
    """Register an OAuth client by its public keys; print its id."""
    from services.intake.auth import oauth

    async with db.transaction() as conn:
        client_id = await oauth.register(conn, args.org, jwks, scopes, actor=_actor())
    print(client_id)
    print(
        f"OAuth client registered; token endpoint {settings.public_url}/oauth2/token",
        file=sys.stderr,
    )


async def _issue_key(
    db: Database, args: argparse.Namespace, settings: Settings, scopes: tuple[str, ...]
) -> None:
    """Issue a first or a rotated API key; print it once; give the partner its Kafka login."""
    from services.intake.auth import keys

    async with db.transaction() as conn:
        if args.action == "add":
            key = await keys.issue(conn, args.org, scopes, actor=_actor())
        else:
            grace = timedelta(hours=args.grace_hours)
            try:
                key = await keys.rotate(conn, args.org, grace, _actor(), args.key_id)
            except keys.RotationRefused as exc:
                raise _Refused(f"not rotated: {exc}") from None
    print(key)
    print("store this key now: it is shown once and only its hash is kept", file=sys.stderr)
    _kafka_partner(args.action, args.org, settings)


async def _revoke_credentials(db: Database, args: argparse.Namespace, settings: Settings) -> None:
    """Revoke one key, or every key and OAuth client (and the Kafka login) of a partner."""
    from services.intake.auth import keys, oauth

    async with db.transaction() as conn:
        n = await keys.revoke(conn, args.org, args.key_id, actor=_actor())
        m = 0 if args.key_id else await oauth.revoke_clients(conn, args.org, _actor())
    print(f"{n} key(s) and {m} OAuth client(s) revoked for {args.org}")
    if not args.key_id:
        _kafka_partner("revoke", args.org, settings)


async def _list_credentials(db: Database, args: argparse.Namespace) -> None:
    """One JSON line per credential, named by id, never by secret."""
    async with db.engine.connect() as conn:
        for line in await _partner_lines(conn, args.org):
            print(json.dumps(line))


def _actor() -> str:
    """Who ran a credential command, for the audit chain (the OS login, else just "cli")."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name, e.g. a container's anonymous uid
        return "cli"


def _kafka_partner(action: str, org: str, settings: Settings) -> None:
    """Provision, rotate or remove the organisation's Kafka user (with Kafka security on)."""
    from services.commands.kafka import partner_credentials

    password = partner_credentials(action, org, settings)
    if password is not None:
        print(f"kafka user {org} password {password}")
        print("Kafka password shown once; it reads partner." + org + ".* only", file=sys.stderr)
    elif action == "revoke" and settings.kafka_security_protocol.value != "PLAINTEXT":
        # The user stays on the broker with a credential nobody holds (see Access.remove).
        print(f"kafka user {org} revoked: password replaced by one nobody holds, ACLs deleted")


async def _partner_lines(conn: Any, org: str | None) -> list[dict[str, str]]:
    from sqlalchemy import select

    from vrp.store.tables import api_keys, oauth_clients

    now = datetime.now(UTC)
    lines = []
    for r in await conn.execute(select(api_keys).order_by(api_keys.c.organisation)):
        if org and r.organisation != org:
            continue
        state = "active" if r.revoked_at is None or r.revoked_at > now else "revoked"
        if state == "active" and r.revoked_at is not None:
            state = f"expires {r.revoked_at.isoformat()}"
        lines.append(
            {"organisation": r.organisation, "key_id": r.key_id, "scopes": r.scopes, "state": state}
        )
    for r in await conn.execute(select(oauth_clients).order_by(oauth_clients.c.organisation)):
        if org and r.organisation != org:
            continue
        lines.append(
            {
                "organisation": r.organisation,
                "client_id": r.client_id,
                "scopes": r.scopes,
                "state": "revoked" if r.revoked_at else "active",
            }
        )
    return lines
