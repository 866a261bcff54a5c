"""`vrp evidence ...`: the partnership's evidence (the backfill of referrals stored before
migration 0013, the export for analysts; each subcommand's body lives in its own module)."""

from __future__ import annotations

import argparse
from typing import Any

from services.commands import backfill, export


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], run_async: Any) -> None:
    """Register `vrp evidence ...`."""
    evidence = sub.add_parser("evidence", help="the partnership's evidence (backfill, export)")
    cmds = evidence.add_subparsers(dest="evidence_cmd", required=True)
    backfill.add_to(cmds, run_async)
    export.add_to(cmds, run_async)
