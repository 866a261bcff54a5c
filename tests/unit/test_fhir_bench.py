"""bench.fhir sends the same referral through both doors, each FHIR message anew, and its
summary pairs the doors run by run and counts every 2xx against the database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench import fhir
from bench.http_load import request_stream
from vrp.fhir import inbound

BASE = "http://127.0.0.1:8123/fhir"


def _split(raw: bytes) -> tuple[dict[str, str], bytes]:
    head, body = raw.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    headers["(request)"] = lines[0]
    return headers, body


def test_the_fhir_door_gets_the_json_doors_referral_as_a_new_message_each_time(
    tmp_path: Path,
) -> None:
    files = fhir.bodies(BASE, tmp_path)
    referral = json.loads(files["json"].read_text())
    stream = request_stream(8123, "key", "run1", files["fhir"].read_bytes(), "fhir")
    sent = [_split(next(stream)) for _ in range(3)]
    messages = [inbound.read(body, BASE) for _, body in sent]
    assert all(m.body == referral for m in messages)
    assert len({m.bundle_id for m in messages}) == 3
    assert len({m.service_request_id for m in messages}) == 3
    headers = [h for h, _ in sent]
    assert {h["(request)"] for h in headers} == {"POST /fhir/$process-message HTTP/1.1"}
    assert {h["Content-Type"] for h in headers} == {"application/fhir+json"}
    assert len({h["X-Request-ID"] for h in headers}) == 3
    assert all(int(h["Content-Length"]) == len(b) for h, b in sent)

    json_door = request_stream(8123, "key", "run1", files["json"].read_bytes())
    h, body = _split(next(json_door))
    assert h["(request)"] == "POST /v1/referrals HTTP/1.1" and "Idempotency-Key" in h
    assert json.loads(body) == referral


def _step(throughput: float, p99: float, cpu: float, statuses: dict[str, int]) -> dict[str, Any]:
    ok = sum(n for s, n in statuses.items() if s.startswith("2"))
    success = min(statuses)  # the door's 2xx
    return {
        "throughput": throughput,
        "p50_ms": p99 / 4,
        "p99_ms": p99,
        "cpu_ms_per_referral": cpu,
        "ok": ok,
        "statuses": statuses,
        "odd_2xx": 0,
        "warmup": {"ok": 100, "statuses": {success: 100}, "odd_2xx": 0},
    }


def test_the_summary_pairs_the_doors_of_each_run_and_checks_durability() -> None:
    runs = [
        {
            "steps": {
                "json@max": _step(300, 100, 2.0, {"202": 2400}),
                "fhir@max": _step(240, 200, 3.0, {"200": 1900, "503": 2}),
            }
        },
        {
            "steps": {
                "json@max": _step(200, 100, 2.0, {"202": 1600}),
                "fhir@max": _step(180, 125, 2.4, {"200": 1440}),
            }
        },
    ]
    raw: dict[str, Any] = {"runs": runs, "stored": {"referrals": 7740, "fhir_messages_new": 3540}}
    out = fhir.summary(raw, ["max"])
    # Each run's own ratio, then the median: 0.8 and 0.9 -> 0.85 (not 210 / 250 = 0.84).
    assert out["ratios"]["max"]["throughput_fhir_over_json"] == 0.85
    assert out["ratios"]["max"]["p99_json_over_fhir"] == 0.65  # 0.5 and 0.8
    assert out["ratios"]["max"]["cpu_fhir_over_json"] == 1.35
    assert out["goals_met"] == {"throughput_at_max": True, "p99_at_max": False}
    assert out["steps"]["fhir@max"]["non_2xx_by_status"] == {"503": 2}
    assert out["steps"]["json@max"]["answers_2xx"] == 4200
    assert out["durability"]["every_2xx_durable"]
    raw["stored"]["referrals"] -= 1
    assert not fhir.summary(raw, ["max"])["durability"]["every_2xx_durable"]
