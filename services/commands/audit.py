"""`vrp audit ...`: verify the chain, export its head, list records by kind, list what was
shared about a person."""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from services.commands.resources import resources
from vrp.domain.audit import (
    ACCESS,
    CONSENT_OVERRIDE,
    DISCLOSURE,
    EVIDENCE_EXPORT,
    KINDS,
    READ,
    nhs_pseudonym,
)
from vrp.domain.identifiers import reference
from vrp.store import audit
from vrp.store.unit import reading


async def cmd_verify(args: argparse.Namespace) -> int:
    """Recompute the chain; name the first altered, deleted, inserted or reordered record."""
    try:
        against = audit.Head.parse(args.against) if args.against else None
    except ValueError as exc:
        print(f"--against: {exc}")
        return 2
    async with resources() as r:
        await audit.seal_all(r.db)  # records committed but not yet chained count too
        async with reading(r.db) as unit:
            finding = await audit.verify(unit, against)
            head = await audit.current_head(unit)
    if finding is not None:
        print(f"chain broken at {finding}")
        return 1
    held = f"; exported head {against.seq} is in it" if against else ""
    print(f"chain intact: {head.seq} records, head {head.hash}{held}")
    return 0


async def cmd_head(args: argparse.Namespace) -> int:
    """Print the chain's head as <seq>:<hash>, to hand to a third party."""
    async with resources() as r:
        await audit.seal_all(r.db)
        async with reading(r.db) as unit:
            head = await audit.current_head(unit)
    print(head)
    return 0


async def cmd_subject(args: argparse.Namespace) -> int:
    """Who received what about one person, when, under which agreement flow, and who read it."""
    async with resources() as r:
        if args.nhs_number:
            if "pseudonym_key" not in r.settings.model_fields_set:
                # The pseudonym of an NHS number is keyed: with a key other than the
                # services' it matches nothing, and "no records" would be a false answer to
                # a subject access request.
                print(
                    "vrp: VRP_PSEUDONYM_KEY is not set: set it to the services' key (the demo's "
                    "is change-me-demo-only-pseudonym-key), or give --pseudonym",
                    file=sys.stderr,
                )
                return 2
            key = r.settings.pseudonym_key.get_secret_value().encode()
            subject = nhs_pseudonym(key, args.nhs_number)
        else:
            subject = args.pseudonym
        await audit.seal_all(r.db)
        async with reading(r.db) as unit:
            found = await audit.subject_records(unit, subject)
    if not found:
        print(f"no audit records for subject {subject}")
        return 0
    print(f"subject {subject}")
    for record in found:
        print(describe(record))
    return 0


async def cmd_list(args: argparse.Namespace) -> int:
    """The newest records, of some kinds (e.g. the console's sign-ins) and from a date."""
    since = None
    if args.since:
        try:
            since = datetime.fromisoformat(args.since)
        except ValueError:
            print("--since: expected an ISO date or time, e.g. 2026-12-07 or 2026-12-07T10:00")
            return 2
        since = since if since.tzinfo else since.replace(tzinfo=UTC)
    kinds = list(ACCESS) if args.access else list(args.kind or [])
    async with resources() as r:
        await audit.seal_all(r.db)
        async with reading(r.db) as unit:
            found = await audit.listed(unit, kinds, since, args.limit)
    for record in found:
        print(describe(record))
    if not found:
        print("no audit records" + (f" of kind {', '.join(kinds)}" if kinds else ""))
    return 0


def describe(r: audit.Record) -> str:
    """One line per record for the operator, ids and codes only."""
    d = r.detail
    when = f"{r.at:%Y-%m-%d %H:%M:%S} UTC  #{r.seq}"
    ref = f"{reference(uuid.UUID(r.referral_id))} ({r.referral_id})" if r.referral_id else "-"
    if r.kind == DISCLOSURE:
        return (
            f"{when}  disclosed to {d['organisation']} ({d['intervention']}) "
            f"items {','.join(d['items'])} under {d['agreement_id']} "
            f"v{d['agreement_version']} flow {d['flow_id']}  referral {ref}"
        )
    if r.kind == READ:
        return f"{when}  read by {r.actor} via {d.get('operation', '?')}  referral {ref}"
    if r.kind in ACCESS:
        why = f" ({d['reason']})" if d.get("reason") else ""
        return f"{when}  {r.kind}{why} account {d.get('account', '?')} by {r.actor}"
    if r.kind == CONSENT_OVERRIDE:
        return f"{when}  consent override, ground {d.get('ground')}, by {r.actor}  referral {ref}"
    if r.kind == EVIDENCE_EXPORT:
        return (
            f"{when}  evidence export of {d.get('rows')} record rows "
            f"({d.get('from')} to {d.get('to')}, {d.get('format')}) for {r.actor}, "
            f"run by {d.get('operator')}"
        )
    return f"{when}  {r.kind} by {r.actor} {d}  referral {ref}"


def add_parser(
    sub: Any,
    wrap: Callable[[Callable[[argparse.Namespace], Coroutine[Any, Any, int]]], Callable[..., int]],
) -> None:
    """Register `vrp audit verify|head|list|subject`."""
    au = sub.add_parser("audit", help="the audit chain").add_subparsers(
        dest="audit_cmd", required=True
    )
    v = au.add_parser("verify", help=cmd_verify.__doc__)
    v.add_argument("--against", help="an exported head <seq>:<hash> that must still be there")
    v.set_defaults(fn=wrap(cmd_verify))
    au.add_parser("head", help=cmd_head.__doc__).set_defaults(fn=wrap(cmd_head))
    ls = au.add_parser("list", help=cmd_list.__doc__)
    which = ls.add_mutually_exclusive_group()
    which.add_argument("--kind", action="append", choices=KINDS, help="repeat for several")
    which.add_argument(
        "--access",
        action="store_true",
        help="the console's sign-ins, failures, lockouts, sign-outs",
    )
    ls.add_argument("--since", help="from this UTC date or time (ISO 8601)")
    ls.add_argument("--limit", type=int, default=100, help="the newest N records (100)")
    ls.set_defaults(fn=wrap(cmd_list))
    s = au.add_parser("subject", help=cmd_subject.__doc__)
    who = s.add_mutually_exclusive_group(required=True)
    who.add_argument("--nhs-number", help="the person's NHS number (pseudonymised here)")
    who.add_argument("--pseudonym", help="the router's pseudonym of the person")
    s.set_defaults(fn=wrap(cmd_subject))
