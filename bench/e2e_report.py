"""Figures of bench.e2e: percentiles, the printed step, the goals, the services' logs."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

ROLES = ("intake", "router", "notifier")
GOALS = "POST->alert p99 <= 250 ms at 100/s; at 200/s all accepted as offered, alert p99 <= 1 s"


def percentiles(seconds: list[float]) -> dict[str, float | None]:
    """p50/p90/p99/max in ms (nearest rank); None = unfinished (infinitely late)."""
    xs = sorted(seconds)

    def at(q: float) -> float | None:
        if not xs:
            return None
        v = xs[min(len(xs) - 1, math.ceil(q * len(xs)) - 1)]
        return None if math.isinf(v) else round(v * 1000, 1)

    return {"p50_ms": at(0.5), "p90_ms": at(0.9), "p99_ms": at(0.99), "max_ms": at(1.0)}


def fmt(p: dict[str, float | None]) -> str:
    """p50/p90/p99/max for printing."""
    keys = ("p50_ms", "p90_ms", "p99_ms", "max_ms")
    return " / ".join("unfin." if p[k] is None else f"{p[k]:.0f}" for k in keys) + " ms"


def show(label: str, r: dict[str, Any]) -> None:
    """Print one step."""
    res = r["resources"]
    procs = " | ".join(
        f"{n} {res[n]['cpu_s']:.1f} cpu-s {res[n]['peak_rss_mb']:.0f} MB" for n in (*ROLES, "bench")
    )
    servers = " | ".join(
        f"{n} {res[n]['cpu_s']:.1f} cpu-s" for n in ("database", "broker", "load") if n in res
    )
    per = r["accepted"] or 1
    per_referral = " ".join(
        f"{n} {1000 * res[n]['cpu_s'] / per:.2f}" for n in (*ROLES, "database") if n in res
    )
    print(
        f"\n[{label}] offered {r['offered_per_s']}/s accepted {r['accepted_per_s']}/s "
        f"({r['accepted']}/{r['sent']}), HTTP {r['http_status']}\n"
        f"  p50/p90/p99/max  POST->202 {fmt(r['post_to_202'])}; "
        f"POST->decided {fmt(r['post_to_decided'])}\n"
        f"                   POST->routed {fmt(r['post_to_routed'])}; "
        f"POST->alert {fmt(r['post_to_alert'])}\n"
        f"  unfinished after 60 s {r['unfinished_after_60s']}, deadlocks {r['deadlocks']}, "
        f"baseline aiokafka two hops {fmt(r['baseline_kafka_two_hops'])}\n"
        f"  {procs} | machine CPU busy {res['machine_cpu_busy']:.0%} over {res['wall_s']} s\n"
        f"  {servers}; CPU ms per referral: {per_referral}\n"
        f"  idle CPU share of a core (during the baseline): {r['idle_cpu_share_of_one_core']}",
        flush=True,
    )


def log_problems(logs: Path) -> dict[str, list[str]]:
    """Warning, error and traceback lines per service log (first 20 each)."""
    out = {}
    for role in ROLES:
        lines = (logs / f"{role}.log").read_text(errors="replace").splitlines()
        bad = [ln for ln in lines if any(w in ln for w in ("WARNING", "ERROR", "Traceback"))]
        out[role] = [f"({len(bad)} lines)", *bad[:20]]
    return out


def goals(steps: list[dict[str, Any]], total: int) -> list[str]:
    """The issue's goals beside the figures."""
    by_rate = {s["rate"]: s for s in steps}
    out = []
    if 100 in by_rate:
        p99 = by_rate[100]["post_to_alert"]["p99_ms"]
        out.append(f"100/s: alert p99 <= 250 ms -> {p99} ms: {p99 is not None and p99 <= 250}")
    if 200 in by_rate:
        s = by_rate[200]
        p99 = s["post_to_alert"]["p99_ms"]
        ok = s["accepted"] == s["sent"] and s["accepted_per_s"] >= 0.95 * s["offered_per_s"]
        out.append(
            f"200/s: all accepted as offered -> {s['accepted']}/{s['sent']} at "
            f"{s['accepted_per_s']}/s: {ok}; alert p99 <= 1 s -> {p99} ms: "
            f"{p99 is not None and p99 <= 1000}"
        )
    out.append(f"zero deadlocks -> {total}: {total == 0}")
    return out
