"""Benchmark: the notifier, routed decision -> alert sent, on each alert channel.

    .venv/bin/python -m bench.alerts [--count 2000] [--rate 200] [--repeat 3] [--poll 0.5]

Runs the real notifier role in-process (embedded transport, PostgreSQL database
vrp_bench_alerts, reset and migrated per run) against loopback sinks from testkit/: an
SMTP server, the GOV.UK Notify stand-in and a Standard Webhooks receiver. For each channel
(navigators-birmingham alerted on that channel only) it feeds `--count` ReferralDecided
events through the outbox, paced at `--rate` per second and then as one burst, and reads
from the database each alert's latency: notifications.sent_at minus the event's time
(`answer`: the AlertSent event's sent_at instead, when the channel answered; sent_at is
stamped when a claimed batch's outcomes are recorded). alerts/s = alerts sent over first
event -> last sent_at. Baseline in the same run: the same channel class sending as many
alerts, 16 at once as the sender does (and 4, its per-organisation cap for webhooks), no
database.
Medians of `--repeat` runs. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml
from sqlalchemy import func, select, text

from bench import e2e_probe as probe
from services.notifier.channels import Alert, Channel, DeliveryFailed
from services.notifier.emails import EmailChannel
from services.notifier.mail import SmtpMailer
from services.notifier.notify import NotifyChannel
from services.notifier.sender import PER_ORGANISATION, alert_of
from services.notifier.staging import address
from services.notifier.webhook import WebhookChannel
from services.router.routing import PRODUCER, SOURCE
from services.runtime import build
from testkit.alerting import SECRET_ENV, alerting_config
from testkit.notify import NotifyStandIn
from testkit.ports import free_port
from testkit.runtime import runtime_settings
from testkit.smtp import SmtpServer
from testkit.webhooks import WebhookReceiver, new_secret
from vrp.config_files import load_configuration
from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.identifiers import reference
from vrp.domain.vocabulary import Channel as ChannelName
from vrp.events import topics
from vrp.events.envelope import Envelope
from vrp.events.models import AlertSent, RecipientSummary, ReferralDecided
from vrp.store import outbox
from vrp.store.database import Database
from vrp.store.migrate import upgrade
from vrp.store.tables import delivery_attempts, notifications
from vrp.store.tables import outbox as outbox_table

SERVER = "postgresql+asyncpg://vrp:vrp@127.0.0.1:5432"
DB_NAME = "vrp_bench_alerts"
DB_URL = f"{SERVER}/{DB_NAME}"
CHANNELS: tuple[ChannelName, ...] = ("email", "sms", "webhook")
CONCURRENCY = 16  # AlertSender's default
ORG, INTERVENTION = "navigators", "navigators-birmingham"
COLUMNS = "alerts_per_s fed_per_s p50_ms p95_ms p99_ms answer_p99_ms staged_p50_ms failures"
DONE = select(func.count()).where(notifications.c.status.in_(("sent", "failed")))
Figures = dict[str, float]
AGREEMENT: dict[str, Any] = {"agreement_id": "bench", "agreement_version": 1}
AGREEMENT |= {"flow_id": "bench", "items": []}
ROUTED: dict[str, Any] = {"outcome": "routed", "urgency": "high", "held_reasons": []}
ROUTED |= {"source_org": "uhb", "config_version": "bench"}


class Sinks:
    """The loopback receivers, shared by every run; `received` counts what each accepted."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.smtp = SmtpServer(free_port())
        self.notify = NotifyStandIn()
        self.hooks = WebhookReceiver([os.environ[SECRET_ENV]])

    def received(self, channel: ChannelName) -> int:
        if channel == "email":
            return len(self.smtp.mailbox.snapshot())
        return len(self.notify.accepted() if channel == "sms" else self.hooks.deliveries())

    def config_dir(self, channel: ChannelName) -> Path:
        """The alerting demo configuration with navigators-birmingham on `channel` only."""
        target = alerting_config(self.folder / channel, self.notify, self.hooks.url)
        path = target / "interventions.yaml"
        data = yaml.safe_load(path.read_text())
        for i in data["interventions"]:
            if i["id"] == INTERVENTION:
                i["channels"] = [channel]
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return target


async def reset_database() -> None:
    """Create vrp_bench_alerts if missing, empty it and migrate it (no other database)."""
    admin = Database(f"{SERVER}/postgres")
    async with admin.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        query = text("SELECT 1 FROM pg_database WHERE datname = :n")
        if (await conn.execute(query, {"n": DB_NAME})).scalar() is None:
            await conn.execute(text(f"CREATE DATABASE {DB_NAME}"))
    await admin.dispose()
    db = Database(DB_URL)
    async with db.engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await upgrade(db)
    await db.dispose()


def decided() -> Envelope:
    """A routed decision for one new referral: navigators-birmingham, high urgency."""
    rid, now = uuid.uuid4(), datetime.now(UTC)
    by = now + timedelta(hours=24)  # far enough that no reminder falls due
    to = RecipientSummary(organisation=ORG, intervention=INTERVENTION, respond_by=by, **AGREEMENT)
    event = ReferralDecided(
        referral_id=str(rid), reference=reference(rid), recipients=[to], decided_at=now, **ROUTED
    )
    return Envelope.wrap(event, SOURCE, str(rid))


async def feed(db: Database, count: int, rate: float) -> None:
    """`count` decisions into the outbox at `rate`/s (each transaction holds the events due by
    then, as the router commits a batch at a time), or all in one transaction (rate 0).
    Through the runtime's own Database, as the router does in the embedded single process,
    so each commit wakes the notifier's consumer."""
    started, fed = time.monotonic(), 0
    while fed < count:
        due = count if rate <= 0 else min(count, int((time.monotonic() - started) * rate) + 1)
        async with db.transaction() as conn:
            envs = [decided() for _ in range(due - fed)]
            rows = [outbox.row_values(PRODUCER, topics.DECIDED, e.subject or "", e) for e in envs]
            await conn.execute(outbox_table.insert(), rows)
            outbox.staged(conn)
        fed = due
        if fed < count:  # rate > 0 here
            await asyncio.sleep(max(0.0, started + fed / rate - time.monotonic()))


async def wait_done(db: Database, count: int, stall: float = 30.0) -> None:
    """Until every alert is sent or failed for good, or nothing changed for `stall` s."""
    done, seen, changed = -1, -1, time.monotonic()
    while done < count and time.monotonic() - changed < stall:
        await asyncio.sleep(0.1)
        async with db.engine.connect() as conn:
            done = (await conn.execute(DONE)).scalar_one()
            await conn.rollback()
        if done != seen:
            seen, changed = done, time.monotonic()


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] if ordered else 0.0


async def measure(count: int) -> Figures:
    """Throughput, latencies and failures of one run, read from the database."""
    db = Database(DB_URL)
    async with db.engine.connect() as conn:
        o, n = outbox_table.c, notifications.c
        logged = list(await conn.execute(select(o.topic, o.value)))
        rows = list(await conn.execute(select(n.referral_id, n.status, n.created_at, n.sent_at)))
        others = delivery_attempts.c.outcome != "sent"
        retries = (await conn.execute(select(func.count()).where(others))).scalar_one()
    await db.dispose()
    envs = [(topic, Envelope.from_bytes(value)) for topic, value in logged]
    at = {e.subject: e.time for topic, e in envs if topic == topics.DECIDED}
    answers = [e.payload(AlertSent) for topic, e in envs if topic == topics.ALERTS]
    sent = [r for r in rows if r.status == "sent" and r.sent_at is not None]
    ms = 1000.0
    latency = [(r.sent_at - at[r.referral_id]).total_seconds() * ms for r in sent]
    answered = [(a.sent_at - at[a.referral_id]).total_seconds() * ms for a in answers]
    staged = [(r.created_at - at[r.referral_id]).total_seconds() * ms for r in rows]
    span = (max(r.sent_at for r in sent) - min(at.values())).total_seconds() if sent else 0.0
    return {
        "events": len(at),
        "sent": len(sent),
        "failures": count - len(sent),
        "retries": retries,
        "alerts_per_s": len(sent) / span if span > 0 else 0.0,
        **{f"p{p}_ms": pct(latency, p) for p in (50, 95, 99)},
        **{f"answer_p{p}_ms": pct(answered, p) for p in (50, 99)},
        **{f"staged_p{p}_ms": pct(staged, p) for p in (50, 99)},
    }


async def pipeline(
    sinks: Sinks, config_dir: Path, channel: ChannelName, count: int, rate: float, poll: float
) -> Figures:
    """One run of the real notifier role on a fresh database."""
    await reset_database()
    settings = runtime_settings(
        DB_URL,
        smtp=sinks.smtp,
        transport="embedded",
        demo_partners=False,
        config_dir=config_dir,
        notify_api_key=sinks.notify.api_key(),
        notify_base_url=sinks.notify.url,
        poll_interval=poll,
    )
    before = sinks.received(channel)
    runtime = await build(settings, ("notifier",))
    await runtime.start()
    try:
        started = time.perf_counter()
        await feed(runtime.db, count, rate)
        fed = count / (time.perf_counter() - started)
        await wait_done(runtime.db, count)
    finally:
        await runtime.stop()
    figures = await measure(count)
    return figures | {"fed_per_s": fed, "sink_received": sinks.received(channel) - before}


def bare_channel(sinks: Sinks, config: RoutingConfiguration, channel: ChannelName) -> Channel:
    """The channel class the runtime builds for `channel`, pointed at the same sink."""
    if channel == "email":
        return EmailChannel(SmtpMailer(sinks.smtp.host, sinks.smtp.port), "referrals@vrp.example")
    if channel == "sms":
        templates = {str(k): v for k, v in config.notify.templates.items()}
        return NotifyChannel(sinks.notify.api_key(), sinks.notify.url, lambda: templates)
    org = config.organisation(ORG)
    hook = org.contacts.webhook if org else None
    return WebhookChannel(lambda _: hook)


async def bare(
    sinks: Sinks, config: RoutingConfiguration, channel: ChannelName, count: int, concurrency: int
) -> Figures:
    """Alerts/s of the bare channel (`count` sends, `concurrency` at once, no database), and
    how many failed."""
    org = config.organisation(ORG)
    to = address(org, channel) if org else None
    assert to is not None
    by = (datetime.now(UTC) + timedelta(hours=24)).isoformat()
    row: dict[str, Any] = {"kind": "new-referral", "channel": channel, "address": to}
    detail: dict[str, Any] = {"intervention": INTERVENTION, "urgency": "high", "respond_by": by}
    detail["intervention_title"] = i.title if (i := config.intervention(INTERVENTION)) else None
    row |= {"organisation": ORG, "detail": detail}
    ids = [(str(uuid.uuid4()), str(uuid.uuid4())) for _ in range(count)]
    rows = [SimpleNamespace(**row, id=i, referral_id=r) for i, r in ids]
    alerts = [alert_of(r, config, "http://127.0.0.1") for r in rows]
    sender, slots = bare_channel(sinks, config, channel), asyncio.Semaphore(concurrency)

    async def one(alert: Alert) -> None:
        async with slots:
            await sender.send(alert)

    started = time.perf_counter()
    try:
        # A failure is counted, not retried: the rate is of alerts delivered.
        outcomes = await asyncio.gather(*(one(a) for a in alerts), return_exceptions=True)
        elapsed = time.perf_counter() - started
    finally:
        await sender.close()
    for o in outcomes:
        if isinstance(o, BaseException) and not isinstance(o, DeliveryFailed):
            raise o
    failed = sum(isinstance(o, DeliveryFailed) for o in outcomes)
    return {"per_s": (count - failed) / elapsed, "failed": failed}


def table(results: dict[str, dict[str, Any]], modes: list[str]) -> None:
    """Print the medians, one row per channel and mode (the ratio on bursts only: a paced
    run's alerts/s is bounded by the offered rate)."""
    names = [c.removesuffix("_ms").replace("_per_s", "/s") for c in COLUMNS.split()]
    names += [f"bare{CONCURRENCY}/s", "ratio", f"bare{PER_ORGANISATION}/s", "bare_fail"]
    print(f"{'channel':8} {'mode':6}" + "".join(f" {n:>10}" for n in names))
    for channel, r in results.items():
        b = r["bare"]["median"]
        bare = [b[f"per_s_{CONCURRENCY}"], b[f"per_s_{PER_ORGANISATION}"]]
        fail = b[f"failed_{CONCURRENCY}"]
        for mode in modes:
            m = r[mode]["median"]
            cells = [format(m[c], ".1f" if "per_s" in c else ".0f") for c in COLUMNS.split()]
            ratio = f"{m['alerts_per_s'] / bare[0]:.2f}" if mode == "burst" else "-"
            cells += [f"{bare[0]:.1f}", ratio, f"{bare[1]:.1f}", f"{fail:.0f}"]
            print(f"{channel:8} {mode:6}" + "".join(f" {c:>10}" for c in cells))


async def scenario(
    sinks: Sinks, channel: ChannelName, modes: list[str], args: argparse.Namespace
) -> dict[str, Any]:
    """One channel: the bare channel and each pipeline mode, `repeat` times."""
    config_dir = sinks.config_dir(channel)
    config = load_configuration(config_dir)
    r: dict[str, Any] = {m: {"runs": []} for m in [*modes, "bare"]}
    for i in range(args.repeat):
        baseline: Figures = {}
        for c in (CONCURRENCY, PER_ORGANISATION):
            figures = await bare(sinks, config, channel, args.count, c)
            baseline |= {f"{k}_{c}": v for k, v in figures.items()}
        r["bare"]["runs"].append(baseline)
        for mode in modes:
            rate = args.rate if mode == "paced" else 0.0
            f = await pipeline(sinks, config_dir, channel, args.count, rate, args.poll)
            r[mode]["runs"].append(f)
            shown = ", ".join(f"{k} {f[k]:.0f}" for k in ("alerts_per_s", "p50_ms", "failures"))
            print(f"  {channel} {mode} run {i + 1}: {shown}", flush=True)
    for m in r.values():
        m["median"] = {k: statistics.median(run[k] for run in m["runs"]) for k in m["runs"][0]}
    return r


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every channel in turn, with the sinks up; the medians are printed as a table."""
    channels = [c for c in CHANNELS if c in args.channels.split(",")]
    modes = ["paced", "burst"] if args.rate > 0 else ["burst"]
    results: dict[str, dict[str, Any]] = {}
    os.environ[SECRET_ENV] = new_secret()  # the runtime's WebhookChannel signs with it
    with tempfile.TemporaryDirectory(prefix="vrp-bench-alerts-") as folder:
        sinks = Sinks(Path(folder))
        with sinks.smtp, sinks.notify, sinks.hooks:
            for channel in channels:
                results[channel] = await scenario(sinks, channel, modes, args)
    table(results, modes)
    return results


def main() -> None:
    """Parse arguments, run, print the table and write the JSON figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=2000, help="decisions (alerts) per run")
    parser.add_argument("--rate", type=float, default=200.0, help="offered/s; 0: burst only")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--poll", type=float, default=0.5, help="poll_interval (the default)")
    parser.add_argument("--channels", default=",".join(CHANNELS))
    parser.add_argument("--out", type=Path, default=None, help="JSON file for the figures")
    args = parser.parse_args()
    print(
        f"{args.count} alerts per run, offered {args.rate:g}/s then a burst, poll {args.poll:g}"
        f" s, sender concurrency {CONCURRENCY} ({PER_ORGANISATION} per organisation for webhooks),"
        " median"
        f" of {args.repeat}; latencies in ms"
    )
    load = os.getloadavg()
    results = asyncio.run(run(args))
    out = args.out or Path("bench/results") / f"alerts-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    settings = {k: v for k, v in vars(args).items() if k != "out"}
    figures = {
        "command": " ".join([".venv/bin/python -m bench.alerts", *sys.argv[1:]]),
        "machine": probe.machine() | {"load_before": load, "load_after": os.getloadavg()},
        "git": probe.git_commit(),
        "settings": settings | {"concurrency": CONCURRENCY, "per_org": PER_ORGANISATION},
        "database": f"PostgreSQL {DB_NAME}, embedded transport, notifier role in-process",
        "results": results,
    }
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"figures written to {out}")


if __name__ == "__main__":
    main()
