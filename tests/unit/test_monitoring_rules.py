"""deploy/monitoring/: the alerting rules and the scrape configuration pass promtool, every
rule has unit tests in which it fires and in which it stays quiet, and every rule and the
runbook's alert sections (docs/runbook.md) name each other."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from markdown.extensions.toc import slugify  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "deploy" / "monitoring"
RULES = MONITORING / "alerts.yml"
RUNBOOK = ROOT / "docs" / "runbook.md"
SEVERITIES = {"page", "ticket"}
CODE_LABELS = {"job", "instance", "producer", "group", "channel", "intervention"}
"""The labels an annotation may quote: process and configuration codes, never a person."""


def rules() -> list[dict[str, Any]]:
    """Every alerting rule of alerts.yml."""
    doc = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in doc["groups"] for rule in group["rules"]]


def runbook_alert_sections() -> dict[str, str]:
    """{anchor: heading} of the `###` sections under `## Alerts` in the runbook."""
    sections: dict[str, str] = {}
    in_alerts = False
    for line in RUNBOOK.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            in_alerts = line.strip() == "## Alerts"
        elif in_alerts and line.startswith("### "):
            heading = line[4:].strip()
            sections[slugify(heading, "-")] = heading
    return sections


def promtool_run(promtool: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(promtool), *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


@pytest.mark.prometheus
def test_the_rules_and_the_scrape_configuration_pass_promtool(promtool: Path) -> None:
    checked = promtool_run(promtool, "check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(rules())} rules found" in checked.stdout
    config = promtool_run(promtool, "check", "config", str(MONITORING / "prometheus.yml"))
    assert config.returncode == 0, config.stdout + config.stderr
    scrape = yaml.safe_load((MONITORING / "prometheus.yml").read_text(encoding="utf-8"))
    assert [j["job_name"] for j in scrape["scrape_configs"]] == ["intake", "router", "notifier"]
    assert scrape["rule_files"] == ["alerts.yml"]


@pytest.mark.prometheus
def test_every_rule_fires_and_stays_quiet_in_its_unit_tests(promtool: Path) -> None:
    tested = promtool_run(promtool, "test", "rules", str(MONITORING / "alerts.test.yml"))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    doc = yaml.safe_load((MONITORING / "alerts.test.yml").read_text(encoding="utf-8"))
    assert doc["rule_files"] == ["alerts.yml"]
    fires: set[str] = set()
    quiet: set[str] = set()
    for test in doc["tests"]:
        for case in test["alert_rule_test"]:
            (fires if case.get("exp_alerts") else quiet).add(case["alertname"])
    names = {r["alert"] for r in rules()}
    assert names - fires == set(), "rules without a case in which they fire"
    assert names - quiet == set(), "rules without a case in which they stay quiet"
    assert (fires | quiet) - names == set(), "cases for alerts that are not rules"


def test_every_rule_has_a_severity_its_annotations_and_a_runbook_section() -> None:
    sections = runbook_alert_sections()
    names = [r["alert"] for r in rules()]
    assert len(names) == len(set(names)), "two rules with one name"
    for rule in rules():
        name = rule["alert"]
        assert rule["labels"]["severity"] in SEVERITIES, name
        notes = rule["annotations"]
        assert set(notes) == {"summary", "description", "runbook"}, name
        assert notes["runbook"] == f"docs/runbook.md#{slugify(name, '-')}", name
        assert sections.get(slugify(name, "-")) == name, f"{name}: no runbook section"
        quoted = re.findall(r"\$labels\.(\w+)", notes["summary"] + notes["description"])
        assert set(quoted) <= CODE_LABELS, (name, quoted)
    # And the other way: every alert section of the runbook is a rule.
    assert set(sections.values()) == set(names)


def test_the_runbook_is_in_the_site_and_linked_from_operations() -> None:
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert "runbook.md" in nav
    assert "](runbook.md)" in (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
