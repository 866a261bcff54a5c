"""`vrp alerts ...`: what failed for good, sending it again, re-enabling a webhook."""

from __future__ import annotations

import argparse
import uuid
from datetime import UTC, datetime

from services.commands.resources import resources
from vrp.domain.identifiers import reference
from vrp.store import failed_alerts
from vrp.store.unit import reading, unit_of_work


async def cmd_failed(args: argparse.Namespace) -> int:
    """List alerts that failed for good, and webhook endpoints disabled after 410 Gone."""
    async with resources() as r, reading(r.db) as unit:
        failed = await failed_alerts.failed(unit, args.limit)
        gone = await failed_alerts.disabled_webhooks(unit)
    for n in failed:
        ref = reference(uuid.UUID(n.referral_id))
        print(
            f"{n.id}  {ref}  {n.organisation}  {n.channel}  {n.kind}  "
            f"{n.attempts} attempt(s)  {n.last_error}"
        )
    for g in gone:
        print(
            f"disabled webhook: {g.organisation} {g.url} since {g.disabled_at:%Y-%m-%d %H:%M} UTC"
        )
    if not failed and not gone:
        print("no failed alerts, no disabled webhooks")
    return 0


async def cmd_retry(args: argparse.Namespace) -> int:
    """Send failed alerts again (all of one organisation's, or the ids given)."""
    if not args.ids and not args.org:
        print("give alert ids or --org", flush=True)
        return 2
    async with resources() as r, unit_of_work(r.db) as unit:
        count = await failed_alerts.send_again(unit, datetime.now(UTC), args.ids, args.org)
    print(f"{count} alert(s) queued again; a running notifier sends them")
    return 0


async def cmd_enable_webhook(args: argparse.Namespace) -> int:
    """Re-enable an organisation's webhook endpoint(s) after it is fixed (410 disabled them)."""
    async with resources() as r, unit_of_work(r.db) as unit:
        count = await failed_alerts.enable_webhooks(unit, args.org)
    print(f"{count} endpoint(s) of {args.org} enabled; `vrp alerts retry --org` resends")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], run_async: object) -> None:
    """Register `vrp alerts ...`."""
    alerts = sub.add_parser("alerts", help="alerts that failed for good; disabled webhooks")
    cmds = alerts.add_subparsers(dest="alerts_cmd", required=True)
    failed = cmds.add_parser("failed", help=cmd_failed.__doc__)
    failed.add_argument("--limit", type=int, default=200)
    failed.set_defaults(fn=run_async(cmd_failed))  # type: ignore[operator]
    retry = cmds.add_parser("retry", help=cmd_retry.__doc__)
    retry.add_argument("ids", nargs="*", help="alert ids (from `vrp alerts failed`)")
    retry.add_argument("--org", help="every failed alert of this organisation")
    retry.set_defaults(fn=run_async(cmd_retry))  # type: ignore[operator]
    enable = cmds.add_parser("enable-webhook", help=cmd_enable_webhook.__doc__)
    enable.add_argument("org")
    enable.set_defaults(fn=run_async(cmd_enable_webhook))  # type: ignore[operator]
