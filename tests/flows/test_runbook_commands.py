"""The runbook's commands work as it says: every `$ vrp ...` line of a ```console block in
docs/runbook.md runs (through bash, from the repository root) against a migrated PostgreSQL
database and the Kafka broker, as the services' operator with the demo configuration, and
exits with a status its `# exit status ...` comment names; every `vrp status --json` field
the runbook names (a backticked `.path`) is in the report."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from testkit.kafka import KafkaEnv
from vrp.settings import DEMO_CONFIG_DIR
from vrp.store.database import Database

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = ROOT / "docs" / "runbook.md"
BIN = Path(sys.executable).parent
STATUS_PATH = re.compile(r"`(\.[a-z_]+(?:\[\]|\.[a-z_]+)*)`")
"""A field of `vrp status --json` as the runbook names it, jq-style."""


def console_commands() -> list[tuple[str, set[int]]]:
    """(command, the exit statuses its comment allows) for each `$` line of a console block."""
    found = []
    inside = False
    for line in RUNBOOK.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            inside = not inside and line.strip() == "```console"
            continue
        if inside and line.startswith("$ "):
            command, _, comment = line[2:].partition("#")
            allowed = re.search(r"exit status (.*)", comment)
            statuses = {int(n) for n in re.findall(r"\b\d+\b", allowed[1])} if allowed else set()
            found.append((command.strip(), statuses))
    return found


COMMANDS = [(c, s) for c, s in console_commands() if c.split()[0] == "vrp"]


def test_the_runbook_shows_its_commands_with_their_exit_statuses() -> None:
    # So that a change to the parsing above cannot quietly leave nothing to run.
    shown = {c for c, _ in COMMANDS}
    assert {"vrp status", "vrp status --json", "vrp alerts failed"} <= shown, shown
    assert len(shown) >= 6, shown
    for command, statuses in COMMANDS:
        assert statuses, f"{command}: no `# exit status ...` comment"


@pytest.fixture
def operator_env(pg_db: Database, postgres_url: str, kafka: KafkaEnv) -> dict[str, str]:
    """The operator's shell: the services' settings (Kafka transport, the broker's admin),
    the demo configuration, `vrp` on the PATH; a migrated, empty database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VRP_")}
    return env | {
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "VRP_DATABASE_URL": postgres_url,
        "VRP_TRANSPORT": "kafka",
        "VRP_KAFKA_NAMESPACE": f"t{uuid.uuid4().hex[:8]}.",
        "VRP_CONFIG_DIR": str(DEMO_CONFIG_DIR),
        "VRP_PSEUDONYM_KEY": uuid.uuid4().hex,
        **kafka.process_env("admin", kafka.admin_password),
    }


def run(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(("command", "statuses"), COMMANDS, ids=[c for c, _ in COMMANDS])
def test_a_runbook_command_exits_as_the_runbook_says(
    command: str, statuses: set[int], operator_env: dict[str, str]
) -> None:
    done = run(command, operator_env)
    # A comment naming several statuses (`vrp status`: 0 healthy, 1 degraded, 2 failing)
    # allows each; tests/unit/test_status_verdict.py shows which state gives which.
    assert done.returncode in statuses, f"{command}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    assert done.stdout.strip(), f"{command} printed nothing"
    assert "Traceback" not in done.stderr, done.stderr


def resolve(report: Any, path: str) -> None:
    """Fail unless `path` (e.g. `.consumer_lag[].lag`) exists in the report."""
    values = [report]
    for part in re.findall(r"\.[a-z_]+|\[\]", path):
        if part == "[]":
            assert all(isinstance(v, list) and v for v in values), f"{path}: not a filled list"
            values = [item for v in values for item in v]
        else:
            assert all(isinstance(v, dict) and part[1:] in v for v in values), path
            values = [v[part[1:]] for v in values]


def test_the_status_fields_the_runbook_names_are_in_the_report(
    operator_env: dict[str, str],
) -> None:
    paths = set(STATUS_PATH.findall(RUNBOOK.read_text(encoding="utf-8")))
    assert {".dead_letters.latest", ".consumer_lag[].lag", ".held.oldest_age_seconds"} <= paths
    done = run("vrp status --json", operator_env)
    assert done.returncode in (0, 1, 2), done.stderr
    report = json.loads(done.stdout)
    for path in sorted(paths):
        resolve(report, path)
