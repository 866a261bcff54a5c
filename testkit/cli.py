"""The `vrp` command as an operator runs it: a separate process, its output captured."""

from __future__ import annotations

import subprocess
import sys


def vrp(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `vrp ARGS` (python -m services.cli) and return what it printed and its status."""
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
