"""`vrp rules check|explain|simulate`: tools for whoever writes the configuration."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from pydantic import ValidationError

from services.commands.explain_state import State, area_from_database, from_database, from_file
from services.commands.resources import Resources, resources
from vrp.config_files import ConfigurationError, check_directory, load_configuration
from vrp.domain.configuration import Organisation, RoutingConfiguration
from vrp.domain.engine import decide
from vrp.domain.facts import Facts
from vrp.domain.geography import area_for
from vrp.domain.identifiers import new_id
from vrp.domain.referral import Referral, ReferralSubmission


def _today(args: argparse.Namespace) -> date:
    return date.fromisoformat(args.on) if args.on else datetime.now(UTC).date()


async def cmd_check(args: argparse.Namespace) -> int:
    """Validate a configuration directory; print errors and warnings with file and line
    (with --database, also codes stored referrals use that the vocabularies dropped)."""
    from vrp.store.code_usage import stored_codes

    stored = await stored_codes(args.database) if args.database else None
    try:
        config, found = check_directory(Path(args.dir), _today(args), stored)
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


def _read_referral(path: str, config: RoutingConfiguration) -> ReferralSubmission | None:
    try:
        body = json.loads(Path(path).read_text(encoding="utf-8"))
        submission = ReferralSubmission.model_validate(body)
    except (OSError, ValueError, ValidationError) as exc:
        print(f"error: cannot read the referral: {type(exc).__name__}", file=sys.stderr)
        if isinstance(exc, ValidationError):
            for e in exc.errors(include_url=False, include_input=False):
                print(f"  {'.'.join(str(p) for p in e['loc'])}: {e['msg']}", file=sys.stderr)
        return None
    problems = submission.check_codes(config.codes)
    for where, message in problems:
        print(f"error: the referral's {where} {message}", file=sys.stderr)
    return None if problems else submission


async def _state(
    args: argparse.Namespace,
    r: Resources,
    config: RoutingConfiguration,
    key: bytes,
    referral: Referral,
    on: date,
) -> State:
    if args.database:
        return await from_database(r.db, config, key, referral, on)
    if args.state:
        return from_file(Path(args.state))
    return State()


async def cmd_explain(args: argparse.Namespace) -> int:
    """Show the decision for one referral (a POST /v1/referrals body) as if sent by --from;
    with --database or --state, capacity and earlier referrals are taken into account."""
    try:
        config = load_configuration(Path(args.dir))
    except ConfigurationError as exc:
        print("\n".join(f"error: {p}" for p in exc.problems), file=sys.stderr)
        return 1
    submission = _read_referral(args.referral, config)
    if submission is None:
        return 1
    source = config.organisation(args.source)
    if source is None:
        print(f"error: --from {args.source!r} is not an organisation", file=sys.stderr)
        return 1
    # r.db is the database --database names; without it, none is opened.
    async with resources(database_url=args.database) as r:
        return await _explain(args, r, config, submission, source)


async def _explain(
    args: argparse.Namespace,
    r: Resources,
    config: RoutingConfiguration,
    submission: ReferralSubmission,
    source: Organisation,
) -> int:
    """Decide the referral as sent by source and print why, with the state it depends on."""
    today = _today(args)
    postcode = submission.subject.postcode
    derived, table = area_for(postcode), "built-in West Midlands table"
    if args.database:
        derived = await area_from_database(r.db, postcode)
        table = "the database's postcode directory, else the built-in table"
    referral = Referral(
        id=str(new_id()),
        source_org=source.id,
        received_at=datetime.now(UTC).isoformat(),
        local_authority=submission.subject.local_authority or derived,
        submission=submission,
    )
    key = r.settings.pseudonym_key.get_secret_value().encode()
    try:
        state = await _state(args, r, config, key, referral, today)
    except (OSError, ValueError, ValidationError) as exc:
        print(f"error: cannot read the state: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    facts = Facts.of(referral, source.kind, today, state.prior_referrals, state.load)
    decision = decide(facts, config, key, referral)
    print(decision.explain())
    print(state.described)
    print(f"area: {_area(submission.subject.local_authority, derived, table)}")
    for recipient in [*decision.recipients, *([decision.hub] if decision.hub else [])]:
        print(f"\n{recipient.organisation} receives:")
        print(json.dumps(recipient.payload, indent=2, sort_keys=True))
    return 0


def _area(given: str | None, derived: str | None, table: str) -> str:
    if given and derived and given != derived:
        return f"{given} as given (intake would refuse it: the postcode is in {derived})"
    if given:
        return f"{given} as given in subject.local_authority"
    if derived:
        return f"{derived} from the postcode ({table})"
    return f"unknown (the postcode is not in the {table})"


async def cmd_simulate(args: argparse.Namespace) -> int:
    """Replay the stored decisions under the configuration in DIR and report the changes."""
    from services.commands.simulate import simulate
    from vrp.progress import reporter

    try:
        config = load_configuration(Path(args.dir))
    except ConfigurationError as exc:
        print("\n".join(f"error: {p}" for p in exc.problems), file=sys.stderr)
        return 1
    async with resources() as r:
        key = r.settings.pseudonym_key.get_secret_value().encode()
        report = await simulate(r.db, config, key, progress=reporter("decisions replayed"))
    print(report.render())
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], run_async: object) -> None:
    """Register `vrp rules ...`."""
    rules = sub.add_parser("rules", help="check, explain and simulate routing configuration")
    cmds = rules.add_subparsers(dest="rules_cmd", required=True)
    check = cmds.add_parser("check", help=cmd_check.__doc__)
    check.add_argument("dir")
    check.add_argument("--on", help="judge dates as of this day (YYYY-MM-DD)")
    check.add_argument("--database", help="also check the codes stored referrals use")
    check.set_defaults(fn=run_async(cmd_check))  # type: ignore[operator]
    explain = cmds.add_parser("explain", help=cmd_explain.__doc__)
    explain.add_argument("dir")
    explain.add_argument("referral", help="a JSON file in the POST /v1/referrals format")
    explain.add_argument("--from", dest="source", required=True, help="sending organisation id")
    explain.add_argument("--on", help="decide as of this day (YYYY-MM-DD)")
    state = explain.add_mutually_exclusive_group()
    state.add_argument(
        "--database", help="take places taken and earlier referrals from this database URL"
    )
    state.add_argument(
        "--state", help='a JSON or YAML file: {"load": {...}, "prior_referrals": [...]}'
    )
    explain.set_defaults(fn=run_async(cmd_explain))  # type: ignore[operator]
    simulate = cmds.add_parser("simulate", help=cmd_simulate.__doc__)
    simulate.add_argument("dir")
    simulate.set_defaults(fn=run_async(cmd_simulate))  # type: ignore[operator]
