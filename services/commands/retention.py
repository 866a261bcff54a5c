"""`vrp retention run [--dry-run]`: reduce referrals whose retention ran out, now."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from services.commands.resources import resources
from vrp.config_files import load_configuration
from vrp.progress import reporter
from vrp.settings import Settings, TransportKind
from vrp.store.reduction import Report, Retained, run_retention


def retained(settings: Settings) -> Retained:
    """The retention periods of the configuration and the settings."""
    return Retained.of(
        load_configuration(settings.config_dir),
        settings.referral_retention_days,
        settings.dead_letter_retention_days,
    )


def describe(report: Report, dry_run: bool) -> str:
    """One line per table: what was (or would be) reduced or deleted."""
    verb = "would be" if dry_run else "were"
    c = report.counts()
    return "\n".join(
        [
            f"referrals reduced to coded facts: {c['referrals']} {verb}",
            f"receivers' copies emptied: {c['received_referrals']} {verb}",
            f"outbox rows deleted: {c['outbox']} {verb}",
            f"dead-letter originals deleted: {c['dead_letter_originals']} {verb}",
            f"outbox rows kept (not yet published or read by every consumer): {c['blocking']}",
        ]
    )


async def cmd_run(args: argparse.Namespace) -> int:
    """Reduce referrals, receivers' copies, outbox rows and dead letters past retention."""
    async with resources() as r:
        report = await run_retention(
            r.db,
            retained(r.settings),
            datetime.now(UTC),
            embedded=r.settings.transport is TransportKind.EMBEDDED,
            dry_run=args.dry_run,
            progress=reporter("referrals and copies reduced"),
        )
    print(describe(report, args.dry_run), flush=True)
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], run_async: object) -> None:
    """Register `vrp retention ...`."""
    retention = sub.add_parser("retention", help="personal data past its retention period")
    cmds = retention.add_subparsers(dest="retention_cmd", required=True)
    run = cmds.add_parser("run", help=cmd_run.__doc__)
    run.add_argument("--dry-run", action="store_true", help="count only; change nothing")
    run.set_defaults(fn=run_async(cmd_run))  # type: ignore[operator]
