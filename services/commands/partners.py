"""`vrp partners add|rotate|revoke|list`: partner credentials (API keys and OAuth clients),
each change an audit record, and the partner's Kafka login kept in step."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from services.commands.resources import Resources, resources
from vrp.settings import Settings
from vrp.store import credentials
from vrp.store.unit import reading, unit_of_work


class _Refused(Exception):
    """A command refused before or while acting; the message says why (exit 2)."""


async def cmd_partners(args: argparse.Namespace) -> int:
    """Add, rotate, revoke or list partner credentials (API keys and OAuth clients)."""
    try:
        async with resources() as r:
            scopes, jwks = _partner_request(args, r)
            if args.action == "add" and jwks is not None:
                await _register_client(r, args, scopes, jwks)
            elif args.action in ("add", "rotate"):
                await _issue_key(r, args, scopes)
            elif args.action == "revoke":
                await _revoke_credentials(r, args)
            else:
                await _list_credentials(r, args)
    except _Refused as refused:
        print(refused, file=sys.stderr)
        return 2
    return 0


def _partner_request(
    args: argparse.Namespace, r: Resources
) -> tuple[tuple[str, ...], dict[str, Any] | None]:
    """The scopes and JWKS a partners command asked for, checked before anything changes."""
    from services.commands.kafka import login_problem
    from services.intake.auth import keys, oauth

    if args.action != "list" and (problem := login_problem(r.settings)):
        raise _Refused(problem)  # before issuing a key the broker side would miss
    scopes = tuple(args.scopes.split(",")) if args.scopes else keys.SCOPES
    unknown = set(scopes) - set(keys.SCOPES)
    if unknown:
        raise _Refused(f"unknown scope(s) {sorted(unknown)}; use {','.join(keys.SCOPES)}")
    known = r.config().organisation(args.org or "") is not None
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
    r: Resources, args: argparse.Namespace, scopes: tuple[str, ...], jwks: dict[str, Any]
) -> None:
    """Register an OAuth client by its public keys; print its id."""
    from services.intake.auth import oauth

    async with unit_of_work(r.db) as unit:
        client_id = await oauth.register(unit, args.org, jwks, scopes, actor=_actor())
    print(client_id)
    print(
        f"OAuth client registered; token endpoint {r.settings.public_url}/oauth2/token",
        file=sys.stderr,
    )


async def _issue_key(r: Resources, args: argparse.Namespace, scopes: tuple[str, ...]) -> None:
    """Issue a first or a rotated API key; print it once; give the partner its Kafka login."""
    from services.intake.auth import keys

    async with unit_of_work(r.db) as unit:
        if args.action == "add":
            key = await keys.issue(unit, args.org, scopes, actor=_actor())
        else:
            grace = timedelta(hours=args.grace_hours)
            try:
                key = await keys.rotate(unit, args.org, grace, _actor(), args.key_id)
            except keys.RotationRefused as exc:
                raise _Refused(f"not rotated: {exc}") from None
    print(key)
    print("store this key now: it is shown once and only its hash is kept", file=sys.stderr)
    _kafka_partner(args.action, args.org, r.settings)


async def _revoke_credentials(r: Resources, args: argparse.Namespace) -> None:
    """Revoke one key, or every key and OAuth client (and the Kafka login) of a partner."""
    from services.intake.auth import keys, oauth

    async with unit_of_work(r.db) as unit:
        n = await keys.revoke(unit, args.org, args.key_id, actor=_actor())
        m = 0 if args.key_id else await oauth.revoke_clients(unit, args.org, _actor())
    print(f"{n} key(s) and {m} OAuth client(s) revoked for {args.org}")
    if not args.key_id:
        _kafka_partner("revoke", args.org, r.settings)


async def _list_credentials(r: Resources, args: argparse.Namespace) -> None:
    """One JSON line per credential, named by id, never by secret."""
    async with reading(r.db) as unit:
        api_keys = await credentials.keys(unit, args.org)
        clients = await credentials.clients(unit, args.org)
    for line in _partner_lines(api_keys, clients, datetime.now(UTC)):
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


def _partner_lines(
    api_keys: list[credentials.ApiKey], clients: list[credentials.OAuthClient], now: datetime
) -> list[dict[str, str]]:
    lines = []
    for k in api_keys:
        state = "active" if k.revoked_at is None or k.revoked_at > now else "revoked"
        if state == "active" and k.revoked_at is not None:
            state = f"expires {k.revoked_at.isoformat()}"
        lines.append(
            {"organisation": k.organisation, "key_id": k.key_id, "scopes": k.scopes, "state": state}
        )
    for c in clients:
        lines.append(
            {
                "organisation": c.organisation,
                "client_id": c.client_id,
                "scopes": c.scopes,
                "state": "revoked" if c.revoked_at else "active",
            }
        )
    return lines
