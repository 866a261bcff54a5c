"""The tables of docs/benchmarks.md are those the newest figures in bench/results/ render
to, so a figure quoted there always names the run (commit, date, command) behind it."""

from __future__ import annotations

import json
from pathlib import Path

from bench import figures as tables

KINDS = ("e2e", "engine", "router", "intake", "fhir", "budget", "comparison", "evidence")


def test_every_benchmark_table_is_generated_from_the_newest_results() -> None:
    text = tables.PAGE.read_text()
    generated = tables.sections()
    assert set(generated) == set(KINDS), "bench/results/ lacks figures for a table"
    for kind in KINDS:
        assert f"<!-- bench:{kind} -->" in text and f"<!-- /bench:{kind} -->" in text, kind
    assert tables.render(text, generated) == text, (
        "docs/benchmarks.md's tables are stale: run `python -m bench.figures`"
    )


def test_a_newer_results_file_changes_the_table(tmp_path: Path) -> None:
    newest = tables.newest("engine")
    assert newest is not None
    figures = json.loads(newest.read_text())
    figures["decisions_per_s"]["engine"] += 1
    figures["git"] = {"commit": "f" * 40, "dirty": False}
    (tmp_path / newest.name).write_text(json.dumps(figures))
    later = tmp_path / "engine-29991231-235959.json"
    later.write_text(json.dumps(figures))
    before = tables.PAGE.read_text()
    after = tables.render(before, tables.sections(tmp_path))
    assert after != before
    assert "engine-29991231-235959.json" in after and "commit fffffff" in after
