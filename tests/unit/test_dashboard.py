"""deploy/monitoring/dashboard.json, the Grafana dashboard: the part of Grafana's model we
rely on (panels with a type, a title, a place on the grid, a Prometheus data source and
PromQL targets), every expression valid PromQL by promtool, and every metric that the
dashboard and the alerting rules name exported by the processes (a live scrape).

Grafana itself cannot be installed here, so its JSON model is checked against SCHEMA: the
subset a Grafana of schemaVersion 36 or later reads to draw these panels."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from services.demo import demo_key
from testkit.partner import bearer, submit
from testkit.referrals import example
from testkit.runtime import runtime_settings, serving, sqlite_url

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "deploy" / "monitoring"
DASHBOARD = MONITORING / "dashboard.json"

ROWS = [
    "Intake traffic and errors",
    "Pipeline: outbox, lag, decisions",
    "Alerts to teams",
    "SLA, held referrals and triage",
    "Configuration, agreements and processes",
]

KAFKA_PROCESSES_ONLY = {"vrp_outbox_backlog", "vrp_outbox_oldest_unpublished_seconds"}
"""Exported by the Kafka-mode processes (their outbox relays), not by the embedded runtime
scraped here; tests/faults/test_alerting_live.py scrapes them from the three processes."""

FROM_PROMETHEUS = {"up"}
"""Written by Prometheus itself for each target, not exported by a process."""

GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}
"""Grafana's built-in variables, replaced by typical values before promtool reads them."""

_DATASOURCE = {
    "type": "object",
    "required": ["type", "uid"],
    "properties": {"type": {"const": "prometheus"}, "uid": {"const": "${datasource}"}},
}
_GRID = {
    "type": "object",
    "required": ["h", "w", "x", "y"],
    "properties": {
        "h": {"type": "integer", "minimum": 1},
        "w": {"type": "integer", "minimum": 1, "maximum": 24},
        "x": {"type": "integer", "minimum": 0, "maximum": 23},
        "y": {"type": "integer", "minimum": 0},
    },
    "additionalProperties": False,
}
_ROW = {
    "type": "object",
    "required": ["id", "type", "title", "gridPos"],
    "properties": {
        "type": {"const": "row"},
        "title": {"type": "string", "minLength": 1},
        "gridPos": _GRID,
        "collapsed": {"const": False},
        "panels": {"type": "array", "maxItems": 0},
    },
}
_PANEL = {
    "type": "object",
    "required": ["id", "type", "title", "gridPos", "datasource", "targets"],
    "properties": {
        "id": {"type": "integer"},
        "type": {"enum": ["timeseries", "stat", "gauge", "bargauge", "table"]},
        "title": {"type": "string", "minLength": 1},
        "description": {"type": "string"},
        "gridPos": _GRID,
        "datasource": _DATASOURCE,
        "targets": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["refId", "expr", "datasource"],
                "properties": {
                    "refId": {"type": "string", "pattern": "^[A-Z]$"},
                    "expr": {"type": "string", "minLength": 1},
                    "legendFormat": {"type": "string"},
                    "datasource": _DATASOURCE,
                },
            },
        },
    },
}
SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["title", "uid", "schemaVersion", "templating", "panels"],
    "properties": {
        "title": {"type": "string", "minLength": 1},
        "uid": {"type": "string", "pattern": "^[a-z0-9-]{1,40}$"},
        "schemaVersion": {"type": "integer", "minimum": 36},
        "templating": {
            "type": "object",
            "required": ["list"],
            "properties": {
                "list": {
                    "type": "array",
                    "contains": {
                        "type": "object",
                        "required": ["name", "type", "query"],
                        "properties": {
                            "name": {"const": "datasource"},
                            "type": {"const": "datasource"},
                            "query": {"const": "prometheus"},
                        },
                    },
                }
            },
        },
        "panels": {
            "type": "array",
            "minItems": 1,
            "items": {
                "if": {"properties": {"type": {"const": "row"}}},
                "then": _ROW,
                "else": _PANEL,
            },
        },
    },
}


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def expressions() -> list[tuple[str, str]]:
    """(panel id and refId, PromQL) of every target."""
    return [
        (f"panel_{p['id']}_{t['refId']}", t["expr"])
        for p in dashboard()["panels"]
        if p["type"] != "row"
        for t in p["targets"]
    ]


def metric_names(expr: str) -> set[str]:
    """The series an expression reads (every metric here is vrp_* or Prometheus' up)."""
    unquoted = re.sub(r'"[^"]*"', '""', expr)
    return set(re.findall(r"\b(vrp_[a-z0-9_]+|up)\b(?!\s*\()", unquoted))


def test_the_dashboard_is_a_grafana_model_of_the_five_rows() -> None:
    model = dashboard()
    jsonschema.validate(model, SCHEMA)
    panels = model["panels"]
    assert [p["title"] for p in panels if p["type"] == "row"] == ROWS
    assert len({p["id"] for p in panels}) == len(panels), "panel ids repeat"
    # Every row has panels under it, and no two panels share a cell of the grid.
    kinds = [p["type"] == "row" for p in panels]
    assert all(not (a and b) for a, b in zip(kinds, [*kinds[1:], True], strict=True))
    cells: set[tuple[int, int]] = set()
    for p in panels:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24, p["title"]
        mine = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not mine & cells, f"{p['title']} overlaps another panel"
        cells |= mine


@pytest.mark.prometheus
def test_every_panel_expression_is_valid_promql(promtool: Path, tmp_path: Path) -> None:
    records = []
    for name, expr in expressions():
        for variable, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, f"{name}: a Grafana variable promtool cannot read: {expr}"
        records.append({"record": f"dashboard:{name}", "expr": expr})
    file = tmp_path / "dashboard-rules.yml"
    file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": records}]}))
    checked = subprocess.run(
        [str(promtool), "check", "rules", str(file)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(records)} rules found" in checked.stdout


async def scraped_names(tmp_path: Path) -> set[str]:
    """The sample names of a live embedded runtime's /metrics after a routed and a held
    referral have been decided and alerted. An alert failing for good and an SLA breach
    are recorded through the runtime's own Metrics, with the calls the notifier makes,
    because this flow causes neither."""
    settings = runtime_settings(sqlite_url(tmp_path), mail_dir=tmp_path / "mail")
    async with serving(settings) as served:
        uhb = bearer(demo_key("uhb"))
        await submit(served.client, uhb)
        await submit(served.client, uhb, body=example(subject__postcode="LS1 1AA"))
        deadline = time.monotonic() + 30
        while True:
            r = await served.client.get("/metrics")
            names = {
                s.name for family in text_string_to_metric_families(r.text) for s in family.samples
            }
            wanted = {
                "vrp_referrals_held_total",
                "vrp_alert_attempts_total",
                "vrp_referral_alert_seconds_bucket",  # recorded once the send has committed
            }
            if wanted <= names:
                break
            assert time.monotonic() < deadline, f"never scraped {wanted - names}"
            await asyncio.sleep(0.1)
        metrics = served.runtime.metrics
        assert metrics is not None
        metrics.attempted("email", "failed", failed_for_good=True)
        metrics.breached("navigators-birmingham")
        r = await served.client.get("/metrics")
    return {s.name for family in text_string_to_metric_families(r.text) for s in family.samples}


async def test_every_metric_the_dashboard_and_the_rules_name_is_exported(tmp_path: Path) -> None:
    used: dict[str, set[str]] = {}
    for name, expr in expressions():
        for metric in metric_names(expr):
            used.setdefault(metric, set()).add(f"dashboard {name}")
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text(encoding="utf-8"))
    for group in rules["groups"]:
        for rule in group["rules"]:
            for metric in metric_names(rule["expr"]):
                used.setdefault(metric, set()).add(f"rule {rule['alert']}")
    assert metric_names('sum(rate(vrp_x_total{job="vrp_y"}[5m])) + up') == {"vrp_x_total", "up"}

    exported = await scraped_names(tmp_path)
    known = exported | KAFKA_PROCESSES_ONLY | FROM_PROMETHEUS
    unknown = {m: sorted(where) for m, where in used.items() if m not in known}
    assert unknown == {}, "named but exported by no process"
    # The exception stays an exception: the embedded runtime has no relay.
    assert exported & KAFKA_PROCESSES_ONLY == set()
    # The existing series are all on the dashboard.
    existing = {n for n in exported if n.startswith("vrp_") and not n.endswith(("_count", "_sum"))}
    assert existing - set(used) == set(), "exported but on neither the dashboard nor a rule"
