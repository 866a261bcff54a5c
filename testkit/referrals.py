"""Example referrals for tests (obviously fictional people)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

EXAMPLE = Path(__file__).resolve().parents[1] / "deploy" / "examples" / "referral.json"


def example(**changes: Any) -> dict[str, Any]:
    """The README's example referral, with top-level or dotted-path changes."""
    body: dict[str, Any] = json.loads(EXAMPLE.read_text())
    body = copy.deepcopy(body)
    for path, value in changes.items():
        target = body
        parts = path.split("__")
        for p in parts[:-1]:
            target = target[p]
        target[parts[-1]] = value
    return body
