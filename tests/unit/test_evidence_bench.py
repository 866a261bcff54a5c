"""bench.evidence runs end to end at a small size: it loads generated referrals into
PostgreSQL, times every entry point and page against the baseline, exports, and writes
its figures with the command that made them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vrp.store.database import Database

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.postgres
async def test_the_benchmark_runs_small_and_writes_its_figures(
    pg_db: Database, postgres_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "evidence.json"
    argv = ["--referrals", "2000", "--runs", "3", "--database-url", postgres_url, "--out", str(out)]
    done = subprocess.run(
        [sys.executable, "-m", "bench.evidence", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert figures["command"][-len(argv) :] == argv
    assert figures["loaded"]["referrals"] == 2000 and figures["loaded"]["offers"] > 1000
    for group in ("entry_points", "pages"):
        assert figures[group]["baseline"]["p50_ratio"] == 1.0
        for name, f in figures[group].items():
            assert 0 < f["p50_ms"] <= f["p99_ms"], name
    assert {"evaluation", "needs"} <= set(figures["entry_points"])
    assert any(name.startswith("page quarterly report") for name in figures["pages"])
    assert figures["export"]["record_rows"] >= 2000 and figures["export"]["seconds"] > 0
    assert "full export" in done.stdout and "figures written to" in done.stdout
