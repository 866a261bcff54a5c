"""`vrp rules check|explain|simulate`: tools for whoever writes the configuration."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from pydantic import ValidationError

from vrp.config_files import ConfigurationError, check_directory, load_configuration
from vrp.domain.engine import decide
from vrp.domain.facts import Facts
from vrp.domain.geography import area_for
from vrp.domain.identifiers import new_id
from vrp.domain.referral import Referral, ReferralSubmission
from vrp.settings import Settings


def _today(args: argparse.Namespace) -> date:
    return date.fromisoformat(args.on) if args.on else datetime.now(UTC).date()


def cmd_check(args: argparse.Namespace) -> int:
    """Validate a configuration directory; print errors and warnings with file and line."""
    try:
        config, found = check_directory(Path(args.dir), _today(args))
    except ConfigurationError as exc:
        for problem in exc.problems:
            print(f"error: {problem}")
        return 1
    for w in found:
        print(f"warning: {w}")
    print(
        f"configuration {config.version}: {len(config.organisations)} organisations, "
        f"{len(config.interventions)} interventions, {len(config.agreements)} agreement "
        f"versions, {len(config.rules)} rules; {len(found)} warning(s)"
    )
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    """Show the decision for one referral (a POST /v1/referrals body) as if sent by --from."""
    try:
        config = load_configuration(Path(args.dir))
        body = json.loads(Path(args.referral).read_text(encoding="utf-8"))
        submission = ReferralSubmission.model_validate(body)
    except ConfigurationError as exc:
        print("\n".join(f"error: {p}" for p in exc.problems), file=sys.stderr)
        return 1
    except (OSError, ValueError, ValidationError) as exc:
        print(f"error: cannot read the referral: {type(exc).__name__}", file=sys.stderr)
        if isinstance(exc, ValidationError):
            for e in exc.errors(include_url=False, include_input=False):
                print(f"  {'.'.join(str(p) for p in e['loc'])}: {e['msg']}", file=sys.stderr)
        return 1
    source = config.organisation(args.source)
    if source is None:
        print(f"error: --from {args.source!r} is not an organisation", file=sys.stderr)
        return 1
    today = _today(args)
    referral = Referral(
        id=str(new_id()),
        source_org=source.id,
        received_at=datetime.now(UTC).isoformat(),
        local_authority=area_for(submission.subject.postcode),
        submission=submission,
    )
    key = Settings().pseudonym_key.get_secret_value().encode()
    decision = decide(Facts.of(referral, source.kind, today), config, key, referral)
    print(decision.explain())
    for r in [*decision.recipients, *([decision.hub] if decision.hub else [])]:
        print(f"\n{r.organisation} receives:")
        print(json.dumps(r.payload, indent=2, sort_keys=True))
    return 0


async def cmd_simulate(args: argparse.Namespace) -> int:
    """Replay the stored decisions under the configuration in DIR and report the changes."""
    from vrp.progress import reporter
    from vrp.simulate import simulate
    from vrp.store.database import Database

    try:
        config = load_configuration(Path(args.dir))
    except ConfigurationError as exc:
        print("\n".join(f"error: {p}" for p in exc.problems), file=sys.stderr)
        return 1
    settings = Settings()
    db = Database(settings.database_url)
    try:
        key = settings.pseudonym_key.get_secret_value().encode()
        report = await simulate(db, config, key, progress=reporter("decisions replayed"))
    finally:
        await db.dispose()
    print(report.render())
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], run_async: object) -> None:
    """Register `vrp rules ...`."""
    rules = sub.add_parser("rules", help="check, explain and simulate routing configuration")
    cmds = rules.add_subparsers(dest="rules_cmd", required=True)
    check = cmds.add_parser("check", help=cmd_check.__doc__)
    check.add_argument("dir")
    check.add_argument("--on", help="judge dates as of this day (YYYY-MM-DD)")
    check.set_defaults(fn=cmd_check)
    explain = cmds.add_parser("explain", help=cmd_explain.__doc__)
    explain.add_argument("dir")
    explain.add_argument("referral", help="a JSON file in the POST /v1/referrals format")
    explain.add_argument("--from", dest="source", required=True, help="sending organisation id")
    explain.add_argument("--on", help="decide as of this day (YYYY-MM-DD)")
    explain.set_defaults(fn=cmd_explain)
    simulate = cmds.add_parser("simulate", help=cmd_simulate.__doc__)
    simulate.add_argument("dir")
    simulate.set_defaults(fn=run_async(cmd_simulate))  # type: ignore[operator]
