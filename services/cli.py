"""The `vrp` command line: run the services, migrate, create topics, manage partners."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from vrp import logs
from vrp.settings import Settings, TransportKind


def _settings(**overrides: Any) -> Settings:
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


async def _run(settings: Settings, roles: tuple[str, ...], banner: Callable[[], None]) -> int:
    from services.runtime import build
    from vrp import telemetry

    telemetry.configure("vrp" if len(roles) > 1 else f"vrp-{roles[0]}")
    runtime = await build(settings, roles)
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
    settings = _settings(
        host=args.host, port=args.port, demo_partners=True, transport=TransportKind.EMBEDDED
    )
    if args.port and "public_url" not in settings.model_fields_set:
        settings = settings.model_copy(update={"public_url": f"http://{settings.host}:{args.port}"})

    def banner() -> None:
        from services.runtime import demo_key, mailer
        from vrp.demo_configuration import is_demo_configuration

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
        print(
            f"\nVRP referral routing is running (embedded: one process, {settings.database_url}).\n"
            f"  Intake API      {url}/v1/referrals   (OpenAPI docs: {url}/docs)\n"
            f"  Alert emails    {mailer(settings).describe()}\n"
            f"  Configuration   {settings.config_dir}\n"
            f"  Demo API key    {demo_key('uhb')}  (University Hospitals Birmingham A&E)\n"
            f"  Console         {url}/console/  (demo accounts navigators.member, "
            "hub.coordinator, ig.lead;\n"
            "                  password demo-only-not-a-secret)\n\n"
            "Try it:\n"
            f"  curl -s -X POST {url}/v1/referrals \\\n"
            f"       -H 'Authorization: Bearer {demo_key('uhb')}' \\\n"
            "       -H 'Idempotency-Key: demo-0001' -H 'Content-Type: application/json' \\\n"
            f"       --data @{example}\n"
            "then GET the status_url it returns with the same Authorization header.\n"
            "Stop with Ctrl-C.\n",
            flush=True,
        )

    return _serve(_run(settings, ("intake", "router", "notifier"), banner))


def _service(role: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        settings = _settings(host=getattr(args, "host", None), port=getattr(args, "port", None))
        if settings.transport is not TransportKind.KAFKA:
            print("set VRP_TRANSPORT=kafka to run services as separate processes", file=sys.stderr)
            return 2
        demo = Settings.model_fields["pseudonym_key"].default.get_secret_value()
        if role == "router" and settings.pseudonym_key.get_secret_value() == demo:
            print(
                "set VRP_PSEUDONYM_KEY to a long random secret before running the router",
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
    from vrp.store.database import Database
    from vrp.store.migrate import upgrade

    settings = Settings()
    db = Database(settings.database_url)
    await upgrade(db)
    await db.dispose()
    print("database is at the latest schema")
    return 0


async def cmd_topics_create(args: argparse.Namespace) -> int:
    """Create internal and per-organisation topics on Kafka."""
    from aiokafka.errors import KafkaError

    from vrp.config_files import load_configuration
    from vrp.kafka_commands import connection_failed, login_problem
    from vrp.provisioning.topics import all_topics, ensure_topics
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


async def cmd_partners(args: argparse.Namespace) -> int:
    """Add, rotate, revoke or list partner credentials (API keys and OAuth clients)."""
    from services.intake.auth import keys, oauth
    from vrp.config_files import load_configuration
    from vrp.kafka_commands import login_problem
    from vrp.store.database import Database

    settings = Settings()
    if args.action != "list" and (problem := login_problem(settings)):
        print(problem, file=sys.stderr)  # before issuing a key the broker side would miss
        return 2
    scopes = tuple(args.scopes.split(",")) if args.scopes else keys.SCOPES
    unknown = set(scopes) - set(keys.SCOPES)
    if unknown:
        print(f"unknown scope(s) {sorted(unknown)}; use {','.join(keys.SCOPES)}", file=sys.stderr)
        return 2
    known = load_configuration(settings.config_dir).organisation(args.org or "") is not None
    if args.action in ("add", "rotate") and not known:
        print(f"unknown organisation {args.org!r}", file=sys.stderr)
        return 2
    jwks = None
    if args.jwks_file:
        try:
            jwks = json.loads(Path(args.jwks_file).read_text())  # noqa: ASYNC240
            oauth.parse_jwks(jwks)
        except (OSError, ValueError) as exc:  # InvalidJwks and JSON errors are ValueErrors
            reason = exc if isinstance(exc, oauth.InvalidJwks) else type(exc).__name__
            print(f"cannot register {args.jwks_file}: {reason}", file=sys.stderr)
            return 2
    db = Database(settings.database_url)
    try:
        if args.action == "add" and jwks is not None:
            async with db.transaction() as conn:
                client_id = await oauth.register(conn, args.org, jwks, scopes, actor=_actor())
            print(client_id)
            print(
                f"OAuth client registered; token endpoint {settings.public_url}/oauth2/token",
                file=sys.stderr,
            )
        elif args.action in ("add", "rotate"):
            async with db.transaction() as conn:
                if args.action == "add":
                    key = await keys.issue(conn, args.org, scopes, actor=_actor())
                else:
                    grace = timedelta(hours=args.grace_hours)
                    try:
                        key = await keys.rotate(conn, args.org, grace, _actor(), args.key_id)
                    except keys.RotationRefused as exc:
                        print(f"not rotated: {exc}", file=sys.stderr)
                        return 2
            print(key)
            print("store this key now: it is shown once and only its hash is kept", file=sys.stderr)
            _kafka_partner(args.action, args.org, settings)
        elif args.action == "revoke":
            async with db.transaction() as conn:
                n = await keys.revoke(conn, args.org, args.key_id, actor=_actor())
                m = 0 if args.key_id else await oauth.revoke_clients(conn, args.org, _actor())
            print(f"{n} key(s) and {m} OAuth client(s) revoked for {args.org}")
            if not args.key_id:
                _kafka_partner("revoke", args.org, settings)
        else:
            async with db.engine.connect() as conn:
                for line in await _partner_lines(conn, args.org):
                    print(json.dumps(line))
        return 0
    finally:
        await db.dispose()


def _actor() -> str:
    """Who ran a credential command, for the audit chain (the OS login, else just "cli")."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name, e.g. a container's anonymous uid
        return "cli"


def _kafka_partner(action: str, org: str, settings: Settings) -> None:
    """Provision, rotate or remove the organisation's Kafka user (with Kafka security on)."""
    from vrp.kafka_commands import partner_credentials

    password = partner_credentials(action, org, settings)
    if password is not None:
        print(f"kafka user {org} password {password}")
        print("Kafka password shown once; it reads partner." + org + ".* only", file=sys.stderr)
    elif action == "revoke" and settings.kafka_security_protocol.value != "PLAINTEXT":
        # The user stays on the broker with a credential nobody holds (see Access.remove).
        print(f"kafka user {org} revoked: password replaced by one nobody holds, ACLs deleted")


async def _partner_lines(conn: Any, org: str | None) -> list[dict[str, str]]:
    from sqlalchemy import select

    from vrp.store.tables import api_keys, oauth_clients

    now = datetime.now(UTC)
    lines = []
    for r in await conn.execute(select(api_keys).order_by(api_keys.c.organisation)):
        if org and r.organisation != org:
            continue
        state = "active" if r.revoked_at is None or r.revoked_at > now else "revoked"
        if state == "active" and r.revoked_at is not None:
            state = f"expires {r.revoked_at.isoformat()}"
        lines.append(
            {"organisation": r.organisation, "key_id": r.key_id, "scopes": r.scopes, "state": state}
        )
    for r in await conn.execute(select(oauth_clients).order_by(oauth_clients.c.organisation)):
        if org and r.organisation != org:
            continue
        lines.append(
            {
                "organisation": r.organisation,
                "client_id": r.client_id,
                "scopes": r.scopes,
                "state": "revoked" if r.revoked_at else "active",
            }
        )
    return lines


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


def parser() -> argparse.ArgumentParser:
    """The argument parser."""
    p = argparse.ArgumentParser(prog="vrp", description="VRP referral routing service")
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help=cmd_up.__doc__)
    up.add_argument("--host")
    up.add_argument("--port", type=int)
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
    pa = sub.add_parser("partners", help=cmd_partners.__doc__)
    pa.add_argument("action", choices=["add", "rotate", "revoke", "list"])
    pa.add_argument("org", nargs="?")
    pa.add_argument("--scopes", help="comma-separated scopes (default: all)")
    pa.add_argument("--jwks-file", help="add: register an OAuth client with this public JWKS")
    pa.add_argument("--key-id", help="rotate or revoke: only this API key")
    pa.add_argument(
        "--grace-hours", type=float, default=24.0, help="rotate: hours the old keys keep working"
    )
    pa.set_defaults(fn=_async(cmd_partners))
    from vrp import alerts_commands, kafka_commands, rules_commands, status_commands

    rules_commands.add_parser(sub, _async)
    alerts_commands.add_parser(sub, _async)
    from vrp import retention_commands

    retention_commands.add_parser(sub, _async)
    status_commands.add_parser(sub, _async)
    kafka_commands.add_parser(sub)
    from vrp import audit_commands

    audit_commands.add_parser(sub, _async)
    from vrp import users_commands

    users_commands.add_parser(sub, _async)
    from vrp import geography_commands

    geography_commands.add_parser(sub, _async)
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
    args = parser().parse_args(argv)
    if getattr(args, "action", None) in ("add", "rotate", "revoke") and not args.org:
        parser().error("partners add/rotate/revoke need an organisation id")
    result: int = args.fn(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
