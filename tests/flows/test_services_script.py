"""deploy/services.sh as an operator runs it, on the real broker and database: `start` comes
back once all three services answer /ready, a referral goes through them, `status` says so
service by service, `stop` stops them and `status` then fails."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import httpx
import pytest

from services.intake.auth.keys import issue
from testkit.infrastructure import reset_postgres
from testkit.kafka import KafkaEnv
from testkit.partner import bearer, submit, wait_status
from testkit.ports import free_port
from vrp.store.database import Database
from vrp.store.unit import unit_of_work

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "services.sh"


def three_free_ports() -> int:
    """A port P with P + 1 and P + 2 free too (intake, router and notifier by default)."""
    for _ in range(50):
        port = free_port()
        try:
            for offset in (1, 2):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port + offset))
        except OSError:
            continue
        return port
    raise AssertionError("no three consecutive free ports on loopback")


def services(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run deploy/services.sh."""
    return subprocess.run(
        [str(SCRIPT), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240
    )


async def test_the_services_script_starts_reports_and_stops_the_three_services(
    tmp_path: Path, postgres_url: str, kafka: KafkaEnv
) -> None:
    assert kafka.secure and kafka.admin_password, "services.sh logs in to a secured broker"
    await reset_postgres(postgres_url)
    (tmp_path / "kafka").mkdir()
    (tmp_path / "kafka" / "admin.password").write_text(kafka.admin_password)
    port = three_free_ports()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VRP_")}
    env |= {
        "VRP_SERVICES_STATE": str(tmp_path / "services"),
        "VRP_KAFKA_STATE": str(tmp_path / "kafka"),
        "VRP_DATABASE_URL": postgres_url,
        "VRP_KAFKA_BOOTSTRAP": kafka.bootstrap,
        "VRP_PORT": str(port),
    }
    try:
        started = services(env, "start")
        assert started.returncode == 0, started.stdout + started.stderr
        assert f"ready: intake http://127.0.0.1:{port}/ready" in started.stdout, started.stdout
        async with httpx.AsyncClient(timeout=10) as client:
            for role, offset in (("router", 1), ("notifier", 2)):
                ready = await client.get(f"http://127.0.0.1:{port + offset}/ready")
                assert ready.status_code == 200 and ready.json() == {"status": "ready"}, role
                health = await client.get(f"http://127.0.0.1:{port + offset}/health")
                assert health.json() == {"status": "ok"}, role
            db = Database(postgres_url)
            async with unit_of_work(db) as unit:
                uhb = bearer(await issue(unit, "uhb"))
            await db.dispose()
            client.base_url = httpx.URL(f"http://127.0.0.1:{port}")
            accepted = await submit(client, uhb)
            status = await wait_status(client, accepted["status_url"], uhb, {"routed"}, timeout=60)
            assert status["status"] == "routed", status

        report = services(env, "status")
        assert report.returncode == 0, report.stdout + report.stderr
        for role, offset in (("intake", 0), ("router", 1), ("notifier", 2)):
            assert f"{role} http://127.0.0.1:{port + offset}/ready: ready" in report.stdout
    finally:
        stopped = services(env, "stop")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    for role in ("intake", "router", "notifier"):
        assert f"{role} stopped" in stopped.stdout, stopped.stdout
    after = services(env, "status")
    assert after.returncode == 3, after.stdout
    assert "router: stopped" in after.stdout
