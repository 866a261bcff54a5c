"""Benchmark: routing decisions per second on one core, next to GoRules zen-engine.

    .venv/bin/python -m bench.engine [--referrals 20000] [--rounds 5]

Prints the median of each measure over the rounds (engines alternate within a round, so
machine noise hits both) and the ratio to the peer. Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import zen

from bench.workload import TODAY, facts, referrals
from bench.zen_table import jdm, zen_input
from vrp.config_files import load_configuration
from vrp.domain.assessment import assess
from vrp.domain.engine import decide, matches
from vrp.domain.facts import Facts
from vrp.settings import DEMO_CONFIG_DIR

KEY = b"benchmark-key"


def rate(fn: Callable[[], None], n: int) -> float:
    """Items per second for one call of fn that processes n items."""
    start = time.perf_counter()
    fn()
    return n / (time.perf_counter() - start)


def main() -> None:
    """Run the benchmark and print figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--referrals", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core

    config = load_configuration(DEMO_CONFIG_DIR)
    items = referrals(args.referrals)
    all_facts = facts(config, items)
    decision = zen.ZenEngine().create_decision(jdm(config, TODAY))
    inputs = [zen_input(f) for f in all_facts]

    mismatches = sum(
        1
        for f, z in zip(all_facts[:2000], inputs[:2000], strict=True)
        if eligible(config, f)
        != {(r["rule"], r["intervention"]) for r in decision.evaluate(z)["result"]}
    )
    print(
        f"equivalence check on 2000 referrals: {mismatches} disagreement(s) between the "
        "engine's eligible candidates and the zen table"
    )

    def ours_facts() -> None:
        for f in all_facts:
            decide(f, config, KEY)

    def ours_full() -> None:
        for f, r in zip(all_facts, items, strict=True):
            decide(f, config, KEY, r)

    def peer() -> None:
        for z in inputs:
            decision.evaluate(z)

    n = len(all_facts)
    results: dict[str, list[float]] = {"engine": [], "engine+minimise": [], "zen": []}
    for _ in range(args.rounds):
        results["engine"].append(rate(ours_facts, n))
        results["engine+minimise"].append(rate(ours_full, n))
        results["zen"].append(rate(peer, n))
    medians = {k: statistics.median(v) for k, v in results.items()}
    routed = sum(1 for f in all_facts if decide(f, config, KEY).outcome == "routed")
    print(
        f"demo configuration {config.version}: {len(config.rules)} rules, "
        f"{len(config.interventions)} interventions, {len(config.agreements)} agreement "
        f"versions; {n} referrals ({routed} routed, {n - routed} held); one core; "
        f"median of {args.rounds} rounds"
    )
    for name, value in medians.items():
        spread = f"{min(results[name]):,.0f}-{max(results[name]):,.0f}"
        print(f"  {name:<18} {value:>10,.0f} decisions/s   (range {spread})")
    print(f"  ratio engine/zen          {medians['engine'] / medians['zen']:.2f}")
    print(f"  ratio engine+minimise/zen {medians['engine+minimise'] / medians['zen']:.2f}")


def eligible(config: object, f: Facts) -> set[tuple[str, str]]:
    """Every (rule, intervention) the engine finds eligible, ignoring selection and stop."""
    from vrp.domain.configuration import RoutingConfiguration

    assert isinstance(config, RoutingConfiguration)
    return {
        (rule.id, x)
        for rule in config.rules
        if matches(rule.when, f)
        for x in rule.interventions
        if assess(config.index, x, f).rejection is None
    }


if __name__ == "__main__":
    main()
