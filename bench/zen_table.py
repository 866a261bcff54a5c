"""The demo routing configuration as an equivalent GoRules JDM decision table (the peer).

Each row is one (rule, intervention, consent case) whose cells encode the rule's
conditions, the intervention's eligibility and, precomputed for the day, which senders
an active in-date agreement flow allows (with the override grounds it accepts). Hit
policy 'collect' returns every eligible (rule, intervention); picking first/all/best
from that list is a trivial post-step left out of the timing for both engines.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from vrp.domain.assessment import effective_eligibility
from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.facts import Facts
from vrp.domain.index import latest_agreements
from vrp.domain.minimise import unmet

COLUMNS = ["reasons_rule", "reasons_elig", "risk", "age", "area", "source", "consent", "ground"]
FIELDS = {"reasons_rule": "reasons", "reasons_elig": "reasons"}


def _any_of(values: list[str]) -> str:
    return ", ".join(json.dumps(v) for v in sorted(values))


def _rows(config: RoutingConfiguration, today: date) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    agreements = [
        a
        for a in latest_agreements(config)
        if a.status.value == "active"
        and a.valid_from <= today
        and (a.valid_to is None or a.valid_to >= today)
    ]
    prohibited = {
        (s, d)
        for a in latest_agreements(config)
        if a.status.value != "draft"
        for p in a.prohibitions
        for s in p.from_orgs
        for d in p.to_orgs
    }
    kinds = {o.id: o.kind for o in config.organisations}
    for rule in config.rules:
        w = rule.when
        for x in rule.interventions:
            i = config.intervention(x)
            if i is None or i.status == "paused" or w.repeat is not None:
                continue
            e, _ = effective_eligibility(i, rule.eligibility)  # as the rule adjusts it
            lo, hi = max(e.min_age, w.min_age or 0), min(e.max_age, w.max_age or 130)
            risks = [r for r in (e.risks or w.risks) if not w.risks or r in w.risks]
            areas = (
                sorted(set(e.areas) & set(w.areas)) if e.areas and w.areas else (e.areas or w.areas)
            )
            for a in agreements:
                for f in a.flows:
                    if i.provider not in f.to_orgs or i.purpose not in f.purposes:
                        continue
                    shared = frozenset(k for k, t in f.items.items() if t.value != "omit")
                    if unmet(i.required_items, shared):
                        continue
                    senders = [
                        s
                        for s in f.from_orgs
                        if (s, i.provider) not in prohibited
                        and (not w.source_kinds or kinds[s] in w.source_kinds)
                    ]
                    if not senders:
                        continue
                    base = {
                        "reasons_rule": (
                            f"some($, # in [{_any_of(w.reasons_any)}])" if w.reasons_any else ""
                        ),
                        "reasons_elig": (
                            f"some($, # in [{_any_of(e.reasons)}])" if e.reasons else ""
                        ),
                        "risk": _any_of(risks) if risks else "",
                        "age": f"[{lo}..{hi}]",
                        "area": _any_of(areas) if areas else "",
                        "source": _any_of(senders),
                        "_rule": rule.id,
                        "_intervention": i.id,
                    }
                    rows.append({**base, "consent": '"given"', "ground": ""})
                    # Without consent both rules must hold: the intervention's and the flow's.
                    rules = [r for r in (i.consent, f.consent) if r.required]
                    if not rules:
                        rows.append(
                            {
                                **base,
                                "consent": '"refused", "not-sought", "withdrawn"',
                                "ground": "",
                            }
                        )
                        continue
                    grounds = sorted(set.intersection(*(set(r.override_grounds) for r in rules)))
                    if grounds:
                        rows.append(
                            {
                                **base,
                                "consent": '"refused", "not-sought", "withdrawn"',
                                "ground": _any_of(grounds),
                            }
                        )
    return rows


def jdm(config: RoutingConfiguration, today: date) -> str:
    """The JDM graph (input -> decision table -> output) as JSON text."""
    rules = []
    for n, row in enumerate(_rows(config, today)):
        cells = {c: row[c] for c in COLUMNS}
        cells.update(
            {
                "o_rule": json.dumps(row["_rule"]),
                "o_intervention": json.dumps(row["_intervention"]),
                "_id": f"r{n}",
            }
        )
        rules.append(cells)
    table = {
        "hitPolicy": "collect",
        "inputs": [{"id": c, "name": c, "field": FIELDS.get(c, c)} for c in COLUMNS],
        "outputs": [
            {"id": "o_rule", "name": "rule", "field": "rule"},
            {"id": "o_intervention", "name": "intervention", "field": "intervention"},
        ],
        "rules": rules,
    }
    graph: dict[str, Any] = {
        "contentType": "application/vnd.gorules.decision",
        "nodes": [
            {"id": "in", "type": "inputNode", "name": "referral", "position": {"x": 0, "y": 0}},
            {
                "id": "table",
                "type": "decisionTableNode",
                "name": "routing",
                "position": {"x": 300, "y": 0},
                "content": table,
            },
            {"id": "out", "type": "outputNode", "name": "eligible", "position": {"x": 600, "y": 0}},
        ],
        "edges": [
            {"id": "e1", "type": "edge", "sourceId": "in", "targetId": "table"},
            {"id": "e2", "type": "edge", "sourceId": "table", "targetId": "out"},
        ],
    }
    return json.dumps(graph)


def zen_input(f: Facts) -> dict[str, Any]:
    """The facts as the table's input document."""
    return {
        "reasons": sorted(f.reasons),
        "risk": f.risk,
        "age": f.age,
        "area": f.area,
        "source": f.source_org,
        "consent": f.consent.value,
        "ground": f.override_ground,
    }
