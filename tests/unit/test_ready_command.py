"""`vrp ready ROLE` waits for a service's /ready as a supervisor would (the systemd units run
it after starting each service): 0 once ready, 1 with the reason when not by the deadline,
2 when the role has nowhere to answer."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from testkit.ports import free_port
from testkit.runtime import runtime_settings, serving, sqlite_url

UNITS = Path(__file__).resolve().parents[2] / "deploy" / "systemd"


def ready(role: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    """`vrp ready` as its own process, with only these VRP_* settings."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VRP_")}
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "ready", role, "--timeout", str(timeout)],
        capture_output=True,
        text=True,
        env=clean | env,
        timeout=60,
    )


async def test_intake_is_ready_once_it_serves(tmp_path: Path) -> None:
    settings = runtime_settings(sqlite_url(tmp_path), mail_dir=tmp_path / "mail")
    async with serving(settings, ("intake",)):
        env = {"VRP_HOST": "127.0.0.1", "VRP_PORT": str(settings.port)}
        done = await asyncio.to_thread(ready, "intake", env, 10)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"intake ready at http://127.0.0.1:{settings.port}/ready"


def test_a_service_that_does_not_answer_is_reported_by_the_deadline() -> None:
    port = free_port()  # nothing listens there
    started = time.monotonic()
    done = ready("router", {"VRP_METRICS_PORT": str(port)}, 2)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"router not ready at http://127.0.0.1:{port}/ready after 2 s: no answer (ConnectError)"
    )
    assert time.monotonic() - started < 20


def test_router_and_notifier_need_a_metrics_port() -> None:
    done = ready("notifier", {}, 1)
    assert done.returncode == 2
    assert "VRP_METRICS_PORT" in done.stderr


def test_each_systemd_unit_waits_for_its_own_service() -> None:
    for role in ("intake", "router", "notifier"):
        unit = (UNITS / f"vrp-{role}.service").read_text()
        assert f"ExecStart=/opt/vrp/.venv/bin/vrp {role}\n" in unit
        waits = re.findall(r"^ExecStartPost=-/opt/vrp/\.venv/bin/vrp ready (\w+) ", unit, re.M)
        assert waits == [role], role
        if role != "intake":  # where `vrp ready` asks them
            assert re.search(r"^Environment=VRP_METRICS_PORT=\d+$", unit, re.M), role
