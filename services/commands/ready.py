"""`vrp ready ROLE`: wait until a service answers /ready, for a supervisor (systemd's
ExecStartPost) or a deploy script: exit 0 once it is ready, 1 if it is not by the deadline."""

from __future__ import annotations

import argparse
import sys
import time

import httpx

from vrp.settings import Settings

ROLES = ("intake", "router", "notifier")


def ready_url(role: str, settings: Settings) -> str | None:
    """Where the role's process answers /ready with these settings (None: nowhere)."""
    if role == "intake":
        return f"http://{_loopback(settings.host)}:{settings.port}/ready"
    if settings.metrics_port == 0:
        return None  # router and notifier answer only on a metrics port
    return f"http://{_loopback(settings.metrics_host)}:{settings.metrics_port}/ready"


def _loopback(host: str) -> str:
    # A process listening on every address is asked on loopback.
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104


def cmd_ready(args: argparse.Namespace) -> int:
    """Wait until a service answers /ready (exit 0), or say why not by --timeout (exit 1)."""
    url = ready_url(args.role, Settings())
    if url is None:
        print(
            f"the {args.role} answers /ready only on VRP_METRICS_PORT, which is not set",
            file=sys.stderr,
        )
        return 2
    deadline = time.monotonic() + args.timeout
    last = "no answer"
    with httpx.Client(timeout=2.0) as client:
        while True:
            try:
                answer = client.get(url)
            except httpx.HTTPError as exc:
                last = f"no answer ({type(exc).__name__})"
            else:
                if answer.status_code == 200:
                    print(f"{args.role} ready at {url}")
                    return 0
                last = f"{answer.status_code} {answer.text[:300]}"
            if time.monotonic() >= deadline:
                print(
                    f"{args.role} not ready at {url} after {args.timeout:.0f} s: {last}",
                    file=sys.stderr,
                )
                return 1
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], run_async: object) -> None:
    """Register `vrp ready ROLE` (synchronous: run_async is not needed)."""
    ready = sub.add_parser("ready", help=cmd_ready.__doc__)
    ready.add_argument("role", choices=ROLES)
    ready.add_argument("--timeout", type=float, default=120.0, help="seconds to wait (default 120)")
    ready.set_defaults(fn=cmd_ready)
