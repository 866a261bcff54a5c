"""`vrp users add|disable|enable|reset|list`: people's console accounts."""

from __future__ import annotations

import argparse
import functools
import getpass
import os
import secrets
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from services.commands.resources import resources
from vrp.domain.audit import CREDENTIAL, Entry
from vrp.domain.people import ROLE_LABELS, Role
from vrp.store import accounts
from vrp.store.unit import Unit, reading, unit_of_work

Command = Callable[[argparse.Namespace], Awaitable[int]]


def _operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (containers)
        return f"cli:uid-{os.getuid()}"


def _password(args: argparse.Namespace) -> tuple[str, bool]:
    """The new password from stdin (--password-stdin), else a generated one to print once."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n"), False
    return secrets.token_urlsafe(18), True


def _audited(unit: Unit, action: str, username: str, detail: dict[str, str]) -> None:
    record = {"account": username, "action": action} | detail
    unit.audit(Entry(CREDENTIAL, _operator(), None, None, record))


def _refusing_short_passwords(command: Command) -> Command:
    """The command, answering a password below the minimum with why (exit 2)."""

    @functools.wraps(command)
    async def run(args: argparse.Namespace) -> int:
        try:
            return await command(args)
        except accounts.PasswordTooShort as exc:
            print(str(exc), file=sys.stderr)
            return 2

    return run


@_refusing_short_passwords
async def cmd_add(args: argparse.Namespace) -> int:
    """Create a console account for a person of an organisation, with one role."""
    try:
        async with resources() as r:
            config = r.config()
            if config.organisation(args.org) is None:
                print(f"organisation {args.org!r} is not in the configuration", file=sys.stderr)
                return 2
            if Role(args.role) is Role.HUB_COORDINATOR and args.org != config.hub:
                hub = config.hub
                print(f"hub coordinators belong to the hub organisation ({hub})", file=sys.stderr)
                return 2
            password, generated = _password(args)
            async with unit_of_work(r.db) as unit:
                await accounts.add(
                    unit,
                    args.username,
                    args.name,
                    args.org,
                    Role(args.role),
                    password,
                    datetime.now(UTC),
                )
                audited = {"org": args.org, "role": args.role}
                _audited(unit, "add", args.username.lower(), audited)
    except accounts.UsernameTaken:
        print(f"username {args.username!r} is taken", file=sys.stderr)
        return 1
    print(f"added {args.username.lower()} ({ROLE_LABELS[Role(args.role)]}, {args.org})")
    if generated:
        print(f"password (shown once): {password}")
    return 0


@_refusing_short_passwords
async def cmd_change(args: argparse.Namespace) -> int:
    """Disable, enable or reset (new password, lockout cleared, sessions ended) an account."""
    now = datetime.now(UTC)
    password, generated = ("", False)
    async with resources() as r, unit_of_work(r.db) as unit:
        if args.users_cmd == "disable":
            found = await accounts.disable(unit, args.username, now)
        elif args.users_cmd == "enable":
            found = await accounts.enable(unit, args.username)
        else:
            password, generated = _password(args)
            found = await accounts.set_password(unit, args.username, password, now)
        if found:
            _audited(unit, args.users_cmd, args.username.lower(), {})
    if not found:
        print(f"no account {args.username!r}", file=sys.stderr)
        return 1
    print(f"{args.users_cmd}: {args.username.lower()}")
    if generated:
        print(f"password (shown once): {password}")
    return 0


async def cmd_list(args: argparse.Namespace) -> int:
    """Every account: organisation, role, and whether it is disabled or locked."""
    now = datetime.now(UTC)
    async with resources() as res, reading(res.db) as unit:
        rows = await accounts.people(unit)
    for r in rows:
        state = "disabled" if r.disabled_at else ""
        if not state and r.locked_until and r.locked_until > now:
            state = f"locked until {r.locked_until:%Y-%m-%d %H:%M} UTC"
        print(f"{r.username}  {r.organisation}  {r.role}  {state}".rstrip())
    if not rows:
        print("no accounts")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], run_async: object) -> None:
    """Register `vrp users ...`."""
    users = sub.add_parser("users", help="people's console accounts")
    cmds = users.add_subparsers(dest="users_cmd", required=True)
    add = cmds.add_parser("add", help=cmd_add.__doc__)
    add.add_argument("username")
    add.add_argument("--org", required=True, help="organisation id in the configuration")
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument("--name", required=True, help="display name")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.set_defaults(fn=run_async(cmd_add))  # type: ignore[operator]
    for name in ("disable", "enable", "reset"):
        p = cmds.add_parser(name, help=cmd_change.__doc__)
        p.add_argument("username")
        if name == "reset":
            p.add_argument(
                "--password-stdin", action="store_true", help="read the password from stdin"
            )
        p.set_defaults(fn=run_async(cmd_change))  # type: ignore[operator]
    ls = cmds.add_parser("list", help=cmd_list.__doc__)
    ls.set_defaults(fn=run_async(cmd_list))  # type: ignore[operator]
