"""People's console access, recorded twice: one log line for the on-call engineer and one
audit record (`vrp audit access`). Account ids and codes only: never a password, and never
a name typed for an account that does not exist (it may be a mistyped password)."""

from __future__ import annotations

import logging

from vrp.domain.audit import LOCKOUT, SIGN_IN, SIGN_IN_FAILED, SIGN_OUT, Entry
from vrp.store.accounts import Claim, Person
from vrp.store.unit import Unit

log = logging.getLogger(__name__)
UNKNOWN = "unknown"
"""The account of an attempt whose name is not an account's."""
CONSOLE = "console"
"""The actor of failed attempts and lockouts (whoever typed them is not known)."""


def _record(unit: Unit, kind: str, actor: str, account: str, reason: str | None = None) -> None:
    detail = {"account": account, "via": "console"} | ({"reason": reason} if reason else {})
    unit.audit(Entry(kind, actor, None, None, detail))
    fields = {"event": f"console.{kind}", "account": account} | (
        {"reason": reason} if reason else {}
    )
    # The fields in the message too: the JSON log lines carry the message, not extras.
    text = " ".join(f"{k}={v}" for k, v in fields.items())
    unit.after_commit(lambda: log.info("console access %s", text, extra=fields))


def signed_in(unit: Unit, person: Person) -> None:
    """A person signed in."""
    _record(unit, SIGN_IN, person.actor, person.id)


def signed_out(unit: Unit, person: Person) -> None:
    """A person signed out."""
    _record(unit, SIGN_OUT, person.actor, person.id)


def failed(unit: Unit, claim: Claim | None) -> None:
    """A sign-in that did not open a session, with why (the page says the same for all),
    and the lockout it started, if it started one. Whoever typed it is not known, so the
    console is the actor and the account is named in the detail."""
    if claim is None:
        _record(unit, SIGN_IN_FAILED, CONSOLE, UNKNOWN, "unknown-account")
        return
    if claim.disabled:
        reason = "disabled"
    elif not claim.usable:
        reason = "locked"
    else:
        reason = "wrong-password"
    _record(unit, SIGN_IN_FAILED, CONSOLE, claim.person.id, reason)
    if claim.locks:  # a right password would have undone it and signed in
        _record(unit, LOCKOUT, CONSOLE, claim.person.id, "failed-sign-ins")
