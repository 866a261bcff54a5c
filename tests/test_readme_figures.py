"""The README's benchmark tables are those the newest figures in bench/results/ render to,
so a figure in the README always names the run (commit, date, command) behind it."""

from __future__ import annotations

import json
from pathlib import Path

from bench import readme

KINDS = ("e2e", "engine", "router", "budget", "comparison")


def test_every_benchmark_table_in_the_readme_is_generated_from_the_newest_results() -> None:
    text = readme.README.read_text()
    generated = readme.sections()
    assert set(generated) == set(KINDS), "bench/results/ lacks figures for a README table"
    for kind in KINDS:
        assert f"<!-- bench:{kind} -->" in text and f"<!-- /bench:{kind} -->" in text, kind
    assert readme.render(text, generated) == text, (
        "README.md's benchmark tables are stale: run `python -m bench.readme`"
    )


def test_a_newer_results_file_changes_the_table(tmp_path: Path) -> None:
    newest = readme.newest("engine")
    assert newest is not None
    figures = json.loads(newest.read_text())
    figures["decisions_per_s"]["engine"] += 1
    figures["git"] = {"commit": "f" * 40, "dirty": False}
    (tmp_path / newest.name).write_text(json.dumps(figures))
    later = tmp_path / "engine-29991231-235959.json"
    later.write_text(json.dumps(figures))
    before = readme.README.read_text()
    after = readme.render(before, readme.sections(tmp_path))
    assert after != before
    assert "engine-29991231-235959.json" in after and "commit fffffff" in after
