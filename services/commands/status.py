"""`vrp status`: one screen for on-call: backlogs, lag, dead letters, held and overdue
referrals, failed alerts, agreements about to expire, the configuration in force."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.commands.resources import resources
from services.commands.verdict import judge, unreachable_database
from vrp.config_files import ConfigurationError, load_configuration
from vrp.domain.sla import demo_clock_banner
from vrp.domain.vocabulary import AgreementStatus
from vrp.events.wiring import ROLES, Consumer
from vrp.settings import Settings, TransportKind
from vrp.store import status as queries
from vrp.store.database import DATABASE_ERRORS
from vrp.store.unit import reading
from vrp.transport.connection import BrokerAccess, broker_access

EXPIRY_DAYS = 30
"""Agreements ending within this many days are listed."""
KAFKA_TIMEOUT = 15.0
"""Seconds the broker gets to answer before the screen says it is unreachable."""
LOAD_TIME_NOTE = "load time not recorded"
PROBLEMS = {
    BrokerAccess.UNREACHABLE: "unreachable",
    BrokerAccess.CREDENTIALS_MISSING: (
        "credentials missing: set VRP_KAFKA_USERNAME and VRP_KAFKA_PASSWORD"
    ),
    BrokerAccess.CREDENTIALS_REFUSED: (
        "refused the credentials (VRP_KAFKA_USERNAME / VRP_KAFKA_PASSWORD)"
    ),
}


def consumers() -> list[Consumer]:
    """Every consumer group of the wiring, in role order."""
    return [c for r in ROLES for c in r.consumers]


async def gather(now: datetime, settings: Settings | None = None) -> dict[str, Any]:
    """The whole report as JSON-ready data (raises a database error if it is unreachable);
    settings: the environment's when not given."""
    # One connection, never pre-pinged: the screen reads once and then leaves.
    async with resources(settings, pool_size=1, pre_ping=False) as r:
        settings = r.settings
        kafka = settings.transport is TransportKind.KAFKA
        async with reading(r.db) as unit:
            producers = await queries.unpublished(unit) if kafka else None
            groups = None if kafka else await queries.unread(unit, consumers())
            dead_count, dead_latest = await queries.dead_letters(unit)
            held = await queries.held(unit)
            overdue = await queries.overdue(unit, now)
            failed = await queries.failed_alerts(unit)
            disabled = await queries.disabled(unit)
            decided = await queries.latest_decision(unit)
            loads = await queries.configuration_loads(unit)  # last: it may fail (no table)
    report: dict[str, Any] = {"generated_at": _iso(now), "transport": settings.transport.value}
    # This environment's VRP_DEMO_SPEED: the services' own, when run with the same settings.
    report["demo_clock"] = demo_clock_banner(settings.demo_speed)
    if producers is not None:
        report["outbox"] = [_backlog(b, now, "producer", "unpublished") for b in producers]
        lag, problem = await kafka_lag(settings)
        report["consumer_lag"] = lag
        report["consumer_lag_error"] = problem
    if groups is not None:
        report["consumer_lag"] = [_backlog(b, now, "group", "lag") for b in groups]
    report["dead_letters"] = {
        "count": dead_count,
        "latest": [{**asdict(d), "at": _iso(d.at)} for d in dead_latest],
    }
    report["held"] = _counted(held, now)
    report["overdue_acceptances"] = _counted(overdue, now)
    report["failed_alerts"] = _counted(failed, now)
    report["disabled_webhooks"] = [{**asdict(d), "since": _iso(d.since)} for d in disabled]
    report |= _configuration(settings, now.date(), decided, loads)
    return report


async def kafka_lag(settings: Settings) -> tuple[list[dict[str, Any]], str | None]:
    """Per wiring group: committed offsets against end offsets, or why the broker did not say."""
    from aiokafka.errors import KafkaError

    access = await broker_access(settings)
    if access is not BrokerAccess.OK:
        # Credentials told apart from reachability: the fixes differ (a secret, not a broker).
        return [], f"broker {settings.kafka_bootstrap} {PROBLEMS[access]}"
    try:
        return await asyncio.wait_for(_kafka_lag(settings), KAFKA_TIMEOUT), None
    except (KafkaError, OSError, TimeoutError) as exc:
        # The screen is most needed when the broker is down; say so instead of failing.
        return [], f"broker {settings.kafka_bootstrap} unreachable: {type(exc).__name__}"


async def _kafka_lag(settings: Settings) -> list[dict[str, Any]]:
    from aiokafka import AIOKafkaConsumer
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import KafkaError

    from vrp.transport.connection import aiokafka_options

    options = aiokafka_options(settings)
    admin = AIOKafkaAdminClient(**options, request_timeout_ms=5000)
    reader = AIOKafkaConsumer(**options, enable_auto_commit=False, request_timeout_ms=5000)
    try:
        await admin.start()
        await reader.start()
        lags = []
        for c in consumers():
            group = settings.kafka_namespace + c.group
            entry: dict[str, Any] = {"group": group, "lag": None, "partitions": 0, "note": None}
            try:
                committed = await admin.list_consumer_group_offsets(group)
            except KafkaError as exc:  # e.g. no Describe grant on this group for this user
                entry["note"] = type(exc).__name__
                lags.append(entry)
                continue
            offsets = {tp: om.offset for tp, om in committed.items() if om.offset >= 0}
            if not offsets:
                entry["note"] = "no committed offsets"
            else:
                ends = await reader.end_offsets(list(offsets))
                entry["lag"] = sum(max(0, ends[tp] - at) for tp, at in offsets.items())
                entry["partitions"] = len(offsets)
            lags.append(entry)
        return lags
    finally:
        with contextlib.suppress(KafkaError, OSError):
            await reader.stop()
        with contextlib.suppress(KafkaError, OSError):
            await admin.close()


def _configuration(
    settings: Settings,
    today: date,
    decided: tuple[str, datetime] | None,
    loads: list[queries.Loaded],
) -> dict[str, Any]:
    last = loads[0] if loads else None
    config: dict[str, Any] = {
        "directory": str(settings.config_dir),
        "version": None,
        "error": None,
        "load_time": None,
        "load_time_note": LOAD_TIME_NOTE,
        "last_loaded": None if last is None else {**asdict(last), "at": _iso(last.at)},
        "files_changed_at": None,
        "last_decision_version": decided[0] if decided else None,
        "last_decision_version_first_used_at": _iso(decided[1]) if decided else None,
    }
    expiring: list[dict[str, Any]] = []
    try:
        loaded = load_configuration(settings.config_dir)
    except (ConfigurationError, OSError) as exc:
        config["error"] = str(exc).splitlines()[0]
        return {"configuration": config, "agreements_expiring": expiring}
    config["version"] = loaded.version
    # The newest time a process put the directory's version into force.
    load = next((entry for entry in loads if entry.version == loaded.version), None)
    if load is not None:
        config["load_time"], config["load_time_note"] = _iso(load.at), f"loaded by {load.actor}"
    stamps = [p.stat().st_mtime for p in settings.config_dir.glob("*.yaml")]
    if stamps:
        config["files_changed_at"] = _iso(datetime.fromtimestamp(max(stamps), UTC))
    horizon = today + timedelta(days=EXPIRY_DAYS)
    for a in loaded.agreements:
        if a.status is AgreementStatus.ACTIVE and a.valid_to is not None and a.valid_to <= horizon:
            expiring.append(
                {
                    "id": a.id,
                    "version": a.version,
                    "title": a.title,
                    "valid_to": a.valid_to.isoformat(),
                    "days_left": (a.valid_to - today).days,
                }
            )
    expiring.sort(key=lambda e: str(e["valid_to"]))
    return {"configuration": config, "agreements_expiring": expiring}


def _backlog(b: queries.Backlog, now: datetime, name: str, count: str) -> dict[str, Any]:
    entry: dict[str, Any] = {name: b.name, count: b.waiting, **_oldest(b.oldest, now)}
    if name == "group":
        entry["position"] = b.position
    return entry


def _counted(c: queries.Counted, now: datetime) -> dict[str, Any]:
    return {"count": c.count, **_oldest(c.oldest, now), "by_organisation": c.by_organisation}


def _oldest(at: datetime | None, now: datetime) -> dict[str, Any]:
    age = None if at is None else max(0.0, round((now - at).total_seconds(), 1))
    return {"oldest_at": _iso(at), "oldest_age_seconds": age}


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def render(report: dict[str, Any]) -> str:
    """The report as plain text, one topic a line, for a terminal: the verdict first."""
    verdict = report["verdict"]
    lines = [f"VRP status at {report['generated_at']}: {verdict['status'].upper()}"]
    lines += [f"  {reason}" for reason in verdict["reasons"]]
    if "transport" not in report:  # the database could not be read: nothing else to show
        return "\n".join(lines)
    lines += [f"Transport: {report['transport']}", ""]
    if report.get("demo_clock"):
        lines += [f"{report['demo_clock']} (VRP_DEMO_SPEED)", ""]
    if "outbox" in report:
        lines.append("Outbox (unpublished, per producer)")
        lines += [
            f"  {o['producer']:<24}{o['unpublished']:>7}{_age(o)}" for o in report["outbox"]
        ] or ["  nothing waiting"]
    kafka = report["transport"] == TransportKind.KAFKA.value
    lines.append("Consumer lag (per group, " + ("Kafka)" if kafka else "embedded log)"))
    if report.get("consumer_lag_error"):
        lines.append(f"  {report['consumer_lag_error']}")
    for g in report["consumer_lag"]:
        lag = "?" if g["lag"] is None else str(g["lag"])
        note = f"  ({g['note']})" if g.get("note") else ""
        lines.append(f"  {g['group']:<24}{lag:>7}{_age(g)}{note}")
    dead = report["dead_letters"]
    lines.append(f"{'Dead letters':<26}{dead['count']:>7}")
    lines += [f"  {d['at']}  {d['consumer']}  {d['topic']}  {d['reason']}" for d in dead["latest"]]
    for key, title in (
        ("held", "Held referrals"),
        ("overdue_acceptances", "Overdue acceptances"),
        ("failed_alerts", "Failed alerts"),
    ):
        c = report[key]
        orgs = ", ".join(f"{o} {n}" for o, n in sorted(c["by_organisation"].items()))
        lines.append(f"{title:<26}{c['count']:>7}{_age(c)}" + (f"  [{orgs}]" if orgs else ""))
    hooks = report["disabled_webhooks"]
    lines.append(f"{'Disabled webhooks':<26}{len(hooks):>7}")
    lines += [f"  {h['organisation']} since {h['since']} ({h['reason']})" for h in hooks]
    expiring = report["agreements_expiring"]
    lines.append(f"{f'Agreements ending <{EXPIRY_DAYS}d':<26}{len(expiring):>7}")
    lines += [
        f"  {a['id']} v{a['version']} ends {a['valid_to']} ({a['days_left']} days)"
        for a in expiring
    ]
    cfg = report["configuration"]
    if cfg["error"]:
        lines.append(f"Configuration             {cfg['directory']}: {cfg['error']}")
        if cfg["last_loaded"]:
            lines.append(
                f"  FAILED TO LOAD; still using {cfg['last_loaded']['version']} "
                f"(put in force at {cfg['last_loaded']['at']})"
            )
    else:
        lines.append(f"Configuration             {cfg['version']} ({cfg['directory']})")
        loaded = (
            f"loaded {cfg['load_time']} ({cfg['load_time_note']})"
            if cfg["load_time"]
            else cfg["load_time_note"]
        )
        lines.append(f"  {loaded}; files changed at {cfg['files_changed_at']}")
    last = cfg["last_loaded"]
    if last and not cfg["error"] and last["version"] != cfg["version"]:
        lines.append(
            f"  NOTE last version put in force: {last['version']} at {last['at']} "
            f"by {last['actor']}"
        )
    if cfg["last_decision_version"]:
        lines.append(
            f"  newest decision under {cfg['last_decision_version']}, "
            f"in use since {cfg['last_decision_version_first_used_at']}"
        )
    return "\n".join(lines)


def _age(entry: dict[str, Any]) -> str:
    seconds = entry.get("oldest_age_seconds")
    return "" if seconds is None else f"   oldest {_duration(float(seconds))} ago"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


async def cmd_status(args: argparse.Namespace) -> int:
    """One screen for on-call: backlogs, lag, dead letters, held/overdue, alerts, agreements."""
    # The screen reports an unreachable broker itself; the client's own connection errors
    # would only scroll it away.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    now = datetime.now(UTC)
    try:
        report = await gather(now)
    except DATABASE_ERRORS as exc:
        report = {"generated_at": _iso(now)}
        verdict = unreachable_database(type(exc).__name__)
    else:
        verdict = judge(report)
    report["verdict"] = verdict.as_json()
    print(json.dumps(report, indent=2) if args.json else render(report))
    return int(verdict.level)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], run_async: object) -> None:
    """Register `vrp status`."""
    st = sub.add_parser(
        "status",
        help=cmd_status.__doc__,
        description=(
            "Exit status: 0 healthy, 1 degraded (referrals move but something needs a person), "
            "2 failing (referrals are not moving). The reasons are printed first."
        ),
    )
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.set_defaults(fn=run_async(cmd_status))  # type: ignore[operator]
