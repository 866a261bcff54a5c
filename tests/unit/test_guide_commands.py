"""The `vrp` commands the guides show work as shown: every `.venv/bin/vrp ...` line of a
shell block in README.md and docs/ that has nothing for the reader to fill in (no `DIR`,
`URL`, `$VAR`, `<id>`, redirection or pipe) runs here against a migrated SQLite database
with the demo configuration, from the repository root, and must exit 0."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PLACEHOLDER = re.compile(r"\b[A-Z][A-Z_]+\b|[$<>|]")
"""Something the reader replaces or the shell interprets: such a line is an example."""


def guide_commands() -> list[tuple[str, str]]:
    """(page, command) for every runnable `vrp` line in a shell block of the guides."""
    found = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        in_shell = False
        for line in page.read_text(encoding="utf-8").splitlines():
            if line.startswith("```"):
                in_shell = not in_shell and line.strip() in ("```sh", "```bash", "```shell")
                continue
            command = line.split("  #", 1)[0].strip()
            if (
                in_shell
                and command.startswith(".venv/bin/vrp ")
                and not PLACEHOLDER.search(command)
            ):
                found.append((page.name, command))
    return found


EXAMPLES = {
    ".venv/bin/vrp rules simulate my-new-config/": "a configuration the reader has written",
    ".venv/bin/vrp geography load ONSPD_extract.csv": "a file the reader downloads from the ONS",
    ".venv/bin/vrp topics create": "needs the broker (the Kafka tests create topics so)",
}
"""Lines shown as examples, not to be run as they stand, and why."""

SHOWN = guide_commands()
COMMANDS = [(page, command) for page, command in SHOWN if command not in EXAMPLES]


def test_the_guides_show_runnable_commands() -> None:
    # So that a change to the parsing above cannot quietly leave nothing to run.
    shown = {command for _, command in SHOWN}
    assert set(EXAMPLES) <= shown, "an example left the guides: drop it from EXAMPLES"
    runnable = {command for _, command in COMMANDS}
    assert ".venv/bin/vrp rules check vrp/demo/west-midlands" in runnable
    assert ".venv/bin/vrp audit verify" in runnable
    assert len(runnable) >= 8, runnable


@pytest.fixture(scope="module")
def environment(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The commands' environment: a fresh SQLite database, migrated as `vrp db upgrade` does."""
    folder = tmp_path_factory.mktemp("guide")
    env = {
        **os.environ,
        "VRP_DATABASE_URL": f"sqlite+aiosqlite:///{folder}/vrp.db",
        "VRP_MAIL_DIR": str(folder / "mail"),
        # As on the services' machine: `vrp audit subject --nhs-number` needs their key.
        "VRP_PSEUDONYM_KEY": "change-me-demo-only-pseudonym-key",
    }
    env.pop("VRP_CONFIG_DIR", None)  # the demo configuration, as a reader has it
    upgrade = subprocess.run(
        [str(BIN / "vrp"), "db", "upgrade"], cwd=ROOT, env=env, capture_output=True, timeout=120
    )
    assert upgrade.returncode == 0, upgrade.stderr
    return env


@pytest.mark.parametrize(("page", "command"), COMMANDS, ids=[c for _, c in COMMANDS])
def test_a_command_from_the_guides_runs(
    page: str, command: str, environment: dict[str, str]
) -> None:
    argv = command.split()
    argv[0] = str(BIN / "vrp")
    done = subprocess.run(
        argv, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"{page}: {command}\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
    assert "Traceback" not in done.stderr
