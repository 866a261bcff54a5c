"""The layering rules are enforced by ruff, not by good intentions: a planted import of the
wrong layer fails `ruff check` (and what is in the tree passes it)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUFF = Path(sys.executable).with_name("ruff")


def ruff(root: Path, *paths: str) -> subprocess.CompletedProcess[str]:
    """ruff check on paths of the tree at root, with the project's configuration."""
    return subprocess.run(
        [str(RUFF), "check", "--no-cache", "--select", "TID251", *paths],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the configuration and the code the rules cover."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    for package in ("services", "vrp"):
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    return tmp_path


def plant(tree: Path, module: str, line: str) -> None:
    """Append an import to a module of the copied tree."""
    path = tree / module
    path.write_text(path.read_text() + f"\n{line}\n")


def test_the_tree_as_it_is_passes(tree: Path) -> None:
    done = ruff(tree, "services", "vrp")
    assert done.returncode == 0, done.stdout


@pytest.mark.parametrize(
    ("module", "line", "message"),
    [
        (
            "services/router/routing.py",
            "from sqlalchemy import select",
            "SQL belongs in vrp/store/",
        ),
        ("services/notifier/timers.py", "import sqlalchemy.exc", "SQL belongs in vrp/store/"),
        (
            "services/intake/submission.py",
            "from sqlalchemy.ext.asyncio import AsyncConnection",
            "SQL belongs in vrp/store/",
        ),
        (
            "services/intake/console/inbox.py",
            "from vrp.store.tables import referrals",
            "tables belong to vrp/store/",
        ),
        ("vrp/store/unit.py", "from services.runtime import Runtime", "never imports the services"),
        ("vrp/domain/engine.py", "from vrp.store import unit", "the domain does no I/O"),
    ],
)
def test_a_planted_import_of_the_wrong_layer_fails(
    tree: Path, module: str, line: str, message: str
) -> None:
    plant(tree, module, line)
    done = ruff(tree, module)
    assert done.returncode == 1 and message in done.stdout, done.stdout


def test_the_composition_root_may_build_the_store(tree: Path) -> None:
    plant(tree, "services/runtime.py", "from vrp.store.tables import referrals")
    assert ruff(tree, "services/runtime.py").returncode == 0
