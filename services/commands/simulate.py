"""`vrp rules simulate`: replay stored decisions under another configuration and compare."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.engine import decide
from vrp.domain.facts import Facts
from vrp.progress import Progress, no_progress
from vrp.store import decided_facts
from vrp.store.database import Database
from vrp.store.unit import unit_of_work


@dataclass
class Report:
    """What would change, counted by intervention, outcome and reason."""

    config_version: str
    replayed: int = 0
    changed: int = 0
    transitions: Counter[str] = field(default_factory=Counter)
    before: Counter[str] = field(default_factory=Counter)
    after: Counter[str] = field(default_factory=Counter)
    gained: Counter[str] = field(default_factory=Counter)
    lost: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)

    def add(
        self,
        old_outcome: str,
        old: set[str],
        new_outcome: str,
        new: set[str],
        rejections: list[str],
    ) -> None:
        """Account for one replayed referral."""
        self.replayed += 1
        self.before.update(old)
        self.after.update(new)
        if old == new and old_outcome == new_outcome:
            return
        self.changed += 1
        self.transitions[f"{old_outcome} -> {new_outcome}"] += 1
        self.gained.update(new - old)
        self.lost.update(old - new)
        self.reasons.update(rejections)

    def render(self) -> str:
        """A plain-text report."""
        lines = [
            f"replayed {self.replayed} stored decisions under configuration {self.config_version}",
            f"changed: {self.changed}"
            + (f" ({100 * self.changed / self.replayed:.1f}%)" if self.replayed else ""),
            "(capacity is not simulated: every intervention is treated as having room)",
        ]
        if self.transitions:
            lines.append("\noutcome changes:")
            lines += [f"  {k:<22} {v:>8}" for k, v in self.transitions.most_common()]
        names = sorted(set(self.before) | set(self.after))
        if names:
            lines.append(
                f"\n{'intervention':<32} {'before':>8} {'after':>8} {'gained':>8} {'lost':>8}"
            )
            lines += [
                f"{n:<32} {self.before[n]:>8} {self.after[n]:>8} {self.gained[n]:>8} "
                f"{self.lost[n]:>8}"
                for n in names
            ]
        if self.reasons:
            lines.append("\nwhy candidates were rejected in the changed decisions:")
            lines += [f"  {k:<40} {v:>8}" for k, v in self.reasons.most_common()]
        return "\n".join(lines)


async def simulate(
    db: Database,
    config: RoutingConfiguration,
    key: bytes,
    batch: int = 20_000,
    progress: Progress = no_progress,
) -> Report:
    """Re-decide every stored decision that has facts; nothing is written."""
    report = Report(config.version)
    async with unit_of_work(db) as unit:
        total = await decided_facts.count(unit)
        done = 0
        progress(done, total)
        async for rows in decided_facts.batches(unit, batch):
            for row in rows:
                d = decide(Facts.from_json(row.facts), config, key)
                new = {r.intervention for r in d.recipients}
                rejections = [str(c.rejection) for c in d.candidates if not c.chosen]
                old = set((row.chosen or "").split())
                report.add(row.outcome, old, d.outcome, new, rejections)
            done += len(rows)
            progress(min(done, total), total)
    return report
