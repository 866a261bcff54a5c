"""The `vrp` command line: run the services, migrate, create topics, manage partners."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vrp import logs

if TYPE_CHECKING:
    from vrp.settings import Settings

# The command groups whose bodies live in services/commands/, with their one-line help.
# A group's module is imported only when that group is run (or asked for its help), so
# `vrp --help` and every other command start without loading the database, the broker
# client or the domain (a test holds these lines to what each module registers).
GROUPS: dict[str, tuple[str, str]] = {
    "rules": ("services.commands.rules", "check, explain and simulate routing configuration"),
    "alerts": ("services.commands.alerts", "alerts that failed for good; disabled webhooks"),
    "retention": ("services.commands.retention", "personal data past its retention period"),
    "status": (
        "services.commands.status",
        "One screen for on-call: backlogs, lag, dead letters, held/overdue, alerts, agreements.",
    ),
    "kafka": (
        "services.commands.kafka",
        "broker principals and ACLs (run as the broker admin)",
    ),
    "audit": ("services.commands.audit", "the audit chain"),
    "users": ("services.commands.users", "people's console accounts"),
    "geography": (
        "services.commands.geography",
        "postcode directory (areas), populations, deprivation",
    ),
    "evidence": ("services.commands.evidence", "the partnership's evidence (backfill, export)"),
    "demo": ("services.commands.demo", "the demo partnership: seed two years of fictional history"),
    "ready": (
        "services.commands.ready",
        "Wait until a service answers /ready (exit 0), or say why not by --timeout (exit 1).",
    ),
}
PARTNERS_HELP = "Add, rotate, revoke or list partner credentials (API keys and OAuth clients)."


def _settings(**overrides: Any) -> Settings:
    from vrp.settings import Settings

    return Settings(**{k: v for k, v in overrides.items() if v is not None})


async def _run(
    settings: Settings,
    roles: tuple[str, ...],
    banner: Callable[[], None],
    prepare: Callable[[], Awaitable[None]] | None = None,
) -> int:
    from services.demo import DemoClockRefused
    from services.runtime import build
    from vrp import telemetry

    telemetry.configure("vrp" if len(roles) > 1 else f"vrp-{roles[0]}")
    try:
        runtime = await build(settings, roles)
    except DemoClockRefused as refused:
        print(f"vrp: refused to start: {refused}", file=sys.stderr)
        return 2
    if prepare is not None:
        await prepare()  # only once nothing refused the start
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, runtime.stopping.set)
    await runtime.start()
    await runtime.wait_started()
    banner()
    await runtime.stopping.wait()
    await runtime.stop()
    telemetry.shutdown()
    return 0


def _serve(coro: Coroutine[Any, Any, int]) -> int:
    """Run a service on uvloop when it is installed (as uvicorn itself would), else asyncio."""
    try:
        import uvloop
    except ImportError:  # e.g. Windows
        return asyncio.run(coro)
    result: int = uvloop.run(coro)
    return result


def cmd_up(args: argparse.Namespace) -> int:
    """Embedded all-in-one: intake, router and notifier in one process on SQLite."""
    from vrp.settings import TransportKind

    settings = _settings(
        host=args.host,
        port=args.port,
        demo_partners=True,
        transport=TransportKind.EMBEDDED,
        demo_speed=args.speed,
    )
    from services.commands.demo import load_demo_geography, seed_history

    # Seeded before serving; a database seeded before is served as it is.
    if args.demo_history and asyncio.run(seed_history(settings, seeded_is_fine=True)):
        return 2
    # Without VRP_PUBLIC_URL, links (banner, status_url, alerts) follow the host and port
    # (--port or VRP_PORT): Settings derives the default from them.

    def banner() -> None:
        from services.demo import demo_key
        from services.notifier.transports import mailer
        from vrp.demo_configuration import is_demo_configuration
        from vrp.domain.sla import demo_clock_banner

        url = settings.public_url
        if not is_demo_configuration(settings):
            # Demo keys exist only with the demo partnership; a real one issues its own.
            print(
                f"\nVRP referral routing is running (embedded: one process, "
                f"{settings.database_url}).\n  Intake API      {url}/v1/referrals\n"
                f"  Configuration   {settings.config_dir}\n"
                "  Partner keys    none published: issue them with `vrp partners add ORG`\n"
                f"  Console         {url}/console/  (accounts: `vrp users add`)\n"
                "Stop with Ctrl-C.\n",
                flush=True,
            )
            return
        example = Path("deploy/examples/referral.json")
        running = demo_clock_banner(settings.demo_speed)
        clock = f"{running} (respond-by, reminders, escalations).\n" if running else ""
        print(
            f"\nVRP referral routing is running (embedded: one process, {settings.database_url}).\n"
            f"  Intake API      {url}/v1/referrals   (OpenAPI docs: {url}/docs)\n"
            f"  Alert emails    {mailer(settings).describe()}\n"
            f"  Configuration   {settings.config_dir}\n"
            f"  Demo API key    {demo_key('uhb')}  (University Hospitals Birmingham A&E)\n"
            f"  Console         {url}/console/  (demo accounts navigators.member, "
            "hub.coordinator, ig.lead,\n"
            "                  uhb.referrer, wmvru.analyst (Evidence);"
            " password demo-only-not-a-secret)\n\n"
            "Try it:\n"
            f"  curl -s -X POST {url}/v1/referrals \\\n"
            f"       -H 'Authorization: Bearer {demo_key('uhb')}' \\\n"
            "       -H 'Idempotency-Key: demo-0001' -H 'Content-Type: application/json' \\\n"
            f"       --data @{example}\n"
            "then GET the status_url it returns with the same Authorization header.\n"
            f"{clock}"
            "Stop with Ctrl-C.\n",
            flush=True,
        )

    # The demo's denominators (fictional extracts) go into whichever table is empty.
    return _serve(
        _run(
            settings,
            ("intake", "router", "notifier"),
            banner,
            lambda: load_demo_geography(settings),
        )
    )


def _service(role: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from vrp.settings import Settings, TransportKind

        settings = _settings(host=getattr(args, "host", None), port=getattr(args, "port", None))
        if settings.transport is not TransportKind.KAFKA:
            print("set VRP_TRANSPORT=kafka to run services as separate processes", file=sys.stderr)
            return 2
        demo = Settings.model_fields["pseudonym_key"].default.get_secret_value()
        # Both key subjects (the router to link referrals, intake for the evidence's facts);
        # with the published demo key anyone could test a guessed NHS number against them.
        if role in ("router", "intake") and settings.pseudonym_key.get_secret_value() == demo:
            print(
                f"set VRP_PSEUDONYM_KEY to a long random secret (the same for intake and the "
                f"router) before running {role}",
                file=sys.stderr,
            )
            return 2
        return _serve(
            _run(
                settings,
                (role,),
                # Logged, not printed: with VRP_LOG_FORMAT=json every line is JSON.
                lambda: logging.getLogger("vrp.cli").info(
                    "vrp %s running (kafka %s %s as %s, namespace '%s')",
                    role,
                    settings.kafka_bootstrap,
                    settings.kafka_security_protocol.value,
                    settings.kafka_username or "anonymous",
                    settings.kafka_namespace,
                ),
            )
        )

    run.__doc__ = f"Run the {role} service alone (Kafka + shared database)."
    return run


def _async(fn: Callable[[argparse.Namespace], Coroutine[Any, Any, int]]) -> Callable[..., int]:
    def run(args: argparse.Namespace) -> int:
        return asyncio.run(fn(args))

    run.__doc__ = fn.__doc__
    return run


async def cmd_db_upgrade(args: argparse.Namespace) -> int:
    """Apply database migrations."""
    from services.commands.resources import resources
    from vrp.store.migrate import upgrade

    async with resources() as r:
        await upgrade(r.db)
    print("database is at the latest schema")
    return 0


async def cmd_topics_create(args: argparse.Namespace) -> int:
    """Create internal and per-organisation topics on Kafka."""
    from aiokafka.errors import KafkaError

    from services.commands.kafka import connection_failed, login_problem
    from vrp.config_files import load_configuration
    from vrp.provisioning.topics import all_topics, ensure_topics
    from vrp.settings import Settings
    from vrp.transport.connection import aiokafka_options

    settings = Settings()
    if problem := login_problem(settings):
        print(problem, file=sys.stderr)
        return 2
    names = all_topics(load_configuration(settings.config_dir))
    try:
        created = await ensure_topics(
            aiokafka_options(settings),
            names,
            settings.topic_partitions,
            settings.topic_replication,
            settings.kafka_namespace,
        )
    except KafkaError as e:
        print(connection_failed(settings, e), file=sys.stderr)
        return 1
    print(f"{len(created)} topic(s) created, {len(names) - len(created)} already there")
    return 0


def cmd_schemas_export(args: argparse.Namespace) -> int:
    """Write the event JSON Schemas and the OpenAPI document into schemas/."""
    from services.contracts import write_all

    for path in write_all(Path(args.out)):
        print(path)
    return 0


def cmd_schemas_release(args: argparse.Namespace) -> int:
    """Record the current event schemas as released (breaking changes then fail tests)."""
    from vrp.events.schemas import release

    for path in release(Path(args.out)):
        print(path)
    return 0


def _partners(args: argparse.Namespace) -> int:
    from services.commands.partners import cmd_partners

    return _async(cmd_partners)(args)


def _speed(text: str) -> int:
    """A demo clock speed: a whole number from 1 (real time) to 3600."""
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= 3600:
        raise argparse.ArgumentTypeError("give a whole number from 1 (real time) to 3600")
    return int(text)


def _register(sub: argparse._SubParsersAction[argparse.ArgumentParser], group: str) -> None:
    """Add one command group's parser from its module (importing the module)."""
    module = importlib.import_module(GROUPS[group][0])
    module.add_parser(sub, _async)


def parser(argv: list[str] | None = None, every_group: bool = False) -> argparse.ArgumentParser:
    """The argument parser; of the command groups, only the one argv names (or, with
    every_group, all) is loaded in full, the others are listed with their help."""
    p = argparse.ArgumentParser(prog="vrp", description="VRP referral routing service")
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help=cmd_up.__doc__)
    up.add_argument("--host")
    up.add_argument("--port", type=int)
    up.add_argument(
        "--speed",
        type=_speed,
        help="demo clock: SLA timers run this many times faster (demo configuration only; "
        "VRP_DEMO_SPEED for the separate services)",
    )
    up.add_argument(
        "--demo-history",
        action="store_true",
        help="first seed two years of fictional history (`vrp demo seed`; demo configuration only)",
    )
    up.set_defaults(fn=cmd_up)
    for role in ("intake", "router", "notifier"):
        sp = sub.add_parser(role, help=f"run the {role} service alone (Kafka mode)")
        if role == "intake":
            sp.add_argument("--host")
            sp.add_argument("--port", type=int)
        sp.set_defaults(fn=_service(role))
    db = sub.add_parser("db", help="database").add_subparsers(dest="db_cmd", required=True)
    db.add_parser("upgrade", help=cmd_db_upgrade.__doc__).set_defaults(fn=_async(cmd_db_upgrade))
    tp = sub.add_parser("topics", help="Kafka topics").add_subparsers(dest="t_cmd", required=True)
    tp.add_parser("create", help=cmd_topics_create.__doc__).set_defaults(
        fn=_async(cmd_topics_create)
    )
    pa = sub.add_parser("partners", help=PARTNERS_HELP)
    pa.add_argument("action", choices=["add", "rotate", "revoke", "list"])
    pa.add_argument("org", nargs="?")
    pa.add_argument("--scopes", help="comma-separated scopes (default: all)")
    pa.add_argument("--jwks-file", help="add: register an OAuth client with this public JWKS")
    pa.add_argument("--key-id", help="rotate or revoke: only this API key")
    pa.add_argument(
        "--grace-hours", type=float, default=24.0, help="rotate: hours the old keys keep working"
    )
    pa.set_defaults(fn=_partners)
    chosen = next((a for a in argv or [] if not a.startswith("-")), None)
    for group, (_module, summary) in GROUPS.items():
        if every_group or group == chosen:
            _register(sub, group)
        else:
            sub.add_parser(group, help=summary, add_help=False)
    sc = sub.add_parser("schemas", help="contracts").add_subparsers(dest="s_cmd", required=True)
    ex = sc.add_parser("export", help=cmd_schemas_export.__doc__)
    ex.add_argument("--out", default="schemas")
    ex.set_defaults(fn=cmd_schemas_export)
    rel = sc.add_parser("release", help=cmd_schemas_release.__doc__)
    rel.add_argument("--out", default="schemas")
    rel.set_defaults(fn=cmd_schemas_release)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    logs.configure()
    argv = sys.argv[1:] if argv is None else argv
    cli = parser(argv)
    args = cli.parse_args(argv)
    if getattr(args, "action", None) in ("add", "rotate", "revoke") and not args.org:
        cli.error("partners add/rotate/revoke need an organisation id")
    result: int = args.fn(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
