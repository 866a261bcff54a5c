"""`vrp evidence export`: the evidence for analysts, as files (services/evidence_export/)."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from datetime import date
from pathlib import Path
from typing import Any

from services.commands.resources import resources
from services.evidence_export.export import export
from services.evidence_export.files import Format
from vrp.domain.evidence.periods import Period
from vrp.domain.people import Role
from vrp.store import accounts
from vrp.store.accounts import Person
from vrp.store.database import Database
from vrp.store.unit import reading


def _day(text: str) -> date:
    """An ISO date, e.g. 2026-01-31."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a date as YYYY-MM-DD") from None


def operator() -> str:
    """Who ran the command, as the audit names them."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (containers)
        return f"cli:uid-{os.getuid()}"


async def analyst(db: Database, username: str) -> Person | None:
    """The account if it is an active analyst's, else None."""
    async with reading(db) as unit:
        row = await accounts.find(unit, username)
    if row is None or row.disabled_at is not None or row.role != Role.ANALYST:
        return None
    return Person(row.id, row.username, row.display_name, row.organisation, Role(row.role))


async def cmd_export(args: argparse.Namespace) -> int:
    """Write the aggregates (disclosure control applied) and a data dictionary; with
    --records --as USERNAME (an active analyst account), also the record-level de-identified
    facts, audited."""
    if args.end < args.start:
        print("--to: the period cannot end before --from", file=sys.stderr)
        return 2
    if args.records != bool(args.username):
        print("--records and --as USERNAME go together", file=sys.stderr)
        return 2
    out = Path(args.out)
    async with resources() as r:
        person = None
        if args.records:
            person = await analyst(r.db, args.username)
            if person is None:
                print(
                    f"refused: {args.username!r} is not an active console account with the "
                    "analyst role; the record-level export is for analysts only",
                    file=sys.stderr,
                )
                return 3
        written = await export(
            r.db,
            r.config(),
            Period(args.start, args.end),
            Format(args.format),
            out,
            r.settings.console_disclosure_threshold,
            person,
            operator(),
        )
    for path, rows in written.files.items():
        print(f"{path}  {rows} rows")
    if written.records is not None:
        print(f"record-level export of {written.records} rows audited (evidence-export)")
    return 0


def add_to(cmds: argparse._SubParsersAction[argparse.ArgumentParser], run_async: Any) -> None:
    """Register `vrp evidence export` under the evidence group's subcommands."""
    ex = cmds.add_parser("export", help=cmd_export.__doc__)
    ex.add_argument("--from", dest="start", type=_day, required=True, help="first day, YYYY-MM-DD")
    ex.add_argument("--to", dest="end", type=_day, required=True, help="last day, YYYY-MM-DD")
    ex.add_argument("--format", choices=[f.value for f in Format], default=Format.CSV.value)
    ex.add_argument("--out", required=True, help="directory to write into (created if needed)")
    ex.add_argument(
        "--records",
        action="store_true",
        help="also the record-level de-identified facts (analysts only; audited)",
    )
    ex.add_argument("--as", dest="username", help="the analyst's console account")
    ex.set_defaults(fn=run_async(cmd_export))
