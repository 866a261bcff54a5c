"""People's console accounts and sessions: argon2 password hashes, lockout, session tokens.

Only a session token's SHA-256 is stored, so the table cannot be replayed as cookies.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Row, select, update
from sqlalchemy.exc import IntegrityError

from vrp.domain.people import Role, lockout
from vrp.store.tables import console_sessions, console_users
from vrp.store.unit import Unit

_HASHER = PasswordHasher()


@cache
def _decoy() -> str:
    """Verified against when the username is unknown, so that answering takes as long as
    for a real account and timing does not tell which usernames exist. Hashed on first use,
    not at import: every `vrp` command imports this module."""
    return _HASHER.hash("decoy password that no account has")


MIN_PASSWORD = 12


@dataclass(frozen=True)
class Person:
    """A signed-in person: who, which organisation, which role."""

    id: str
    username: str
    display_name: str
    organisation: str
    role: Role

    @property
    def actor(self) -> str:
        """How audit records name this person."""
        return f"org:{self.organisation}/user:{self.username}"


@dataclass(frozen=True)
class LockoutPolicy:
    """The policy: `after` failures lock for `first`, doubling to at most `longest`."""

    after: int = 5
    first: timedelta = timedelta(minutes=1)
    longest: timedelta = timedelta(hours=1)


class PasswordTooShort(ValueError):
    """A new password below the minimum length."""


class UsernameTaken(ValueError):
    """An account with this username exists already."""


@dataclass(frozen=True)
class Account:
    """An account as listed for the operator: who, where, and whether it may sign in."""

    username: str
    organisation: str
    role: str
    disabled_at: datetime | None
    locked_until: datetime | None


def _person(row: Row[Any]) -> Person:
    return Person(row.id, row.username, row.display_name, row.organisation, Role(row.role))


def _hash(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise PasswordTooShort(f"passwords need at least {MIN_PASSWORD} characters")
    return _HASHER.hash(password)


async def add(
    unit: Unit,
    username: str,
    display_name: str,
    organisation: str,
    role: Role,
    password: str,
    now: datetime,
) -> Person:
    """Create an account (usernames are case-insensitive); raises UsernameTaken."""
    person = Person(str(uuid.uuid4()), username.lower(), display_name, organisation, role)
    try:
        await unit.conn.execute(
            console_users.insert().values(
                id=person.id,
                username=person.username,
                display_name=display_name,
                organisation=organisation,
                role=role,
                password_hash=_hash(password),
                failed_logins=0,
                created_at=now,
                password_changed_at=now,
            )
        )
    except IntegrityError:
        raise UsernameTaken(person.username) from None
    return person


async def find(unit: Unit, username: str) -> Row[Any] | None:
    """The account row for a username, if any."""
    return (
        await unit.conn.execute(
            select(console_users).where(console_users.c.username == username.lower())
        )
    ).first()


@dataclass(frozen=True)
class Claim:
    """One sign-in attempt on an existing account, already counted as a failed sign-in
    (so attempts in progress count towards the lockout); `signed_in` undoes that count."""

    person: Person
    password_hash: str
    usable: bool
    """Neither disabled nor locked before this attempt: the right password opens it."""
    disabled: bool
    locks: bool
    """Counting this attempt started a lockout (one the right password undoes)."""


async def claim(unit: Unit, username: str, now: datetime, policy: LockoutPolicy) -> Claim | None:
    """Count a sign-in attempt against the account before its password is checked (None:
    no such account). Commit at once, and check the password outside the transaction: a
    failure counts even while locked, so waiting it out is the only way in, and concurrent
    attempts are counted one after another (the increment takes the row's write lock)."""
    t = console_users.c
    # Incremented in SQL first: concurrent attempts each see the count before them.
    await unit.conn.execute(
        update(console_users)
        .where(t.username == username.lower(), t.disabled_at.is_(None))
        .values(failed_logins=t.failed_logins + 1)
    )
    row = (
        await unit.conn.execute(select(console_users).where(t.username == username.lower()))
    ).first()
    if row is None:
        return None
    if row.disabled_at is not None:  # never counted: it cannot sign in whatever is typed
        return Claim(_person(row), row.password_hash, False, True, False)
    locked = row.locked_until is not None and row.locked_until > now
    wait = lockout(row.failed_logins, policy.after, policy.first, policy.longest)
    if wait is not None:
        until = max(row.locked_until or now, now + wait)
        await unit.conn.execute(
            update(console_users).where(t.id == row.id).values(locked_until=until)
        )
    return Claim(
        _person(row), row.password_hash, not locked, False, not locked and wait is not None
    )


async def signed_in(unit: Unit, account_id: str) -> None:
    """A claim whose password was right: no failures in a row, no lockout."""
    await unit.conn.execute(
        update(console_users)
        .where(console_users.c.id == account_id)
        .values(failed_logins=0, locked_until=None)
    )


def check_password(hashed: str | None, password: str) -> bool:
    """Whether the password matches the hash (None: an unknown account, checked against a
    decoy so that answering takes as long). CPU-bound for tens of milliseconds: run it off
    the event loop."""
    return _verify(_decoy() if hashed is None else hashed, password)


def _verify(hashed: str, password: str) -> bool:
    try:
        return _HASHER.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


async def has_password(unit: Unit, username: str, password: str) -> bool:
    """Whether an enabled account exists with exactly this password (no lockout effect)."""
    row = await find(unit, username)
    return row is not None and row.disabled_at is None and _verify(row.password_hash, password)


async def set_password(unit: Unit, username: str, password: str, now: datetime) -> bool:
    """Set a new password, clear any lockout and end the account's sessions."""
    row = await find(unit, username)
    if row is None:
        return False
    await unit.conn.execute(
        update(console_users)
        .where(console_users.c.id == row.id)
        .values(
            password_hash=_hash(password),
            password_changed_at=now,
            failed_logins=0,
            locked_until=None,
        )
    )
    await _end_all(unit, row.id, now)
    return True


async def disable(unit: Unit, username: str, now: datetime) -> bool:
    """Stop an account signing in and end its sessions at once."""
    row = await find(unit, username)
    if row is None:
        return False
    await unit.conn.execute(
        update(console_users).where(console_users.c.id == row.id).values(disabled_at=now)
    )
    await _end_all(unit, row.id, now)
    return True


async def enable(unit: Unit, username: str) -> bool:
    """Let a disabled account sign in again."""
    row = await find(unit, username)
    if row is None:
        return False
    await unit.conn.execute(
        update(console_users).where(console_users.c.id == row.id).values(disabled_at=None)
    )
    return True


async def _end_all(unit: Unit, user_id: str, now: datetime) -> None:
    await unit.conn.execute(
        update(console_sessions)
        .where(console_sessions.c.user_id == user_id, console_sessions.c.ended_at.is_(None))
        .values(ended_at=now)
    )


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    """A signed-in session: the person and the token their forms must carry (CSRF)."""

    person: Person
    csrf: str


async def open_session(
    unit: Unit, person: Person, now: datetime, lifetime: timedelta
) -> tuple[str, Session]:
    """Start a session; returns the cookie token (shown once, stored hashed)."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    await unit.conn.execute(
        console_sessions.insert().values(
            token_hash=_digest(token),
            user_id=person.id,
            csrf_token=csrf,
            created_at=now,
            expires_at=now + lifetime,
            last_seen_at=now,
        )
    )
    return token, Session(person, csrf)


async def session(unit: Unit, token: str, now: datetime, idle: timedelta) -> Session | None:
    """The live session of a cookie token: not ended, not expired, not idle too long, and
    its account not disabled; touching it extends the idle period."""
    row = (
        await unit.conn.execute(
            select(console_sessions, console_users)
            .join(console_users, console_users.c.id == console_sessions.c.user_id)
            .where(console_sessions.c.token_hash == _digest(token))
        )
    ).first()
    if (
        row is None
        or row.ended_at is not None
        or row.expires_at <= now
        or row.last_seen_at + idle <= now
        or row.disabled_at is not None
    ):
        return None
    # Touch at most once a minute: a page with several requests costs one write.
    if now - row.last_seen_at > timedelta(minutes=1):
        await unit.conn.execute(
            update(console_sessions)
            .where(console_sessions.c.token_hash == row.token_hash)
            .values(last_seen_at=now)
        )
    person = Person(row.user_id, row.username, row.display_name, row.organisation, Role(row.role))
    return Session(person, row.csrf_token)


async def end_session(unit: Unit, token: str, now: datetime) -> None:
    """Sign out: the token stops working at once."""
    await unit.conn.execute(
        update(console_sessions)
        .where(console_sessions.c.token_hash == _digest(token))
        .values(ended_at=now)
    )


async def people(unit: Unit) -> list[Account]:
    """Every account, by organisation and username."""
    t = console_users.c
    rows = await unit.conn.execute(
        select(t.username, t.organisation, t.role, t.disabled_at, t.locked_until).order_by(
            t.organisation, t.username
        )
    )
    return [Account(**r._mapping) for r in rows]
