"""`vrp status`'s verdict: healthy, degraded or failing, with the reasons, from its report.

Failing (exit 2) means referrals are not moving: the database or the broker cannot be
used, the configuration cannot be loaded and no process ever put one in force, or events
have waited longer than `FAILING_AGE` to be published or read. Degraded (exit 1) means
they move but something needs a person: dead letters, alerts failed for good, disabled
webhooks, acceptances overdue, referrals held for triage longer than `TRIAGE_AGE`, an
agreement ending within `AGREEMENT_DAYS`, a configuration on disk that no process has
put in force (or that fails to load while the processes keep the version they have), or
events waiting longer than `DEGRADED_AGE`. Healthy (exit 0) otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

DEGRADED_AGE = 60.0
"""Seconds an event may wait to be published or read before the system counts as degraded."""
FAILING_AGE = 300.0
"""Seconds after which waiting events mean the pipeline has stopped."""
TRIAGE_AGE = 24 * 3600.0
"""Seconds a referral may be held for the hub's triage before it needs chasing."""
AGREEMENT_DAYS = 7
"""An active agreement ending within this many days needs its renewal in force now."""
KAFKA_LAG = 1000
"""Events a Kafka consumer group may be behind (no age is known there) before degraded."""


class Level(IntEnum):
    """The verdict, numbered as the command's exit code."""

    HEALTHY = 0
    DEGRADED = 1
    FAILING = 2


@dataclass
class Verdict:
    """The worst level found and every reason for it (codes and counts, no personal data)."""

    level: Level = Level.HEALTHY
    reasons: list[str] = field(default_factory=list)

    def add(self, level: Level, reason: str) -> None:
        """Record a finding; the verdict is the worst one."""
        self.level = max(self.level, level)
        self.reasons.append(f"{level.name.lower()}: {reason}")

    def as_json(self) -> dict[str, Any]:
        """The verdict as the report's `verdict` member."""
        return {
            "status": self.level.name.lower(),
            "exit_code": int(self.level),
            "reasons": self.reasons,
        }


def unreachable_database(error: str) -> Verdict:
    """The verdict when the database could not be read at all."""
    verdict = Verdict()
    verdict.add(Level.FAILING, f"database unreachable ({error})")
    return verdict


def judge(report: dict[str, Any]) -> Verdict:
    """The verdict on a `vrp status` report."""
    verdict = Verdict()
    if problem := report.get("consumer_lag_error"):
        verdict.add(Level.FAILING, str(problem))
    for entry in report.get("outbox", []):
        _waiting(verdict, f"outbox of {entry['producer']}", entry)
    for entry in report["consumer_lag"]:
        name = f"consumer group {entry['group']}"
        if entry.get("note"):
            verdict.add(Level.DEGRADED, f"{name}: lag unknown ({entry['note']})")
        elif "oldest_age_seconds" in entry:
            _waiting(verdict, name, entry)
        elif (entry.get("lag") or 0) > KAFKA_LAG:
            verdict.add(Level.DEGRADED, f"{name}: {entry['lag']} events behind")
    if count := report["dead_letters"]["count"]:
        verdict.add(Level.DEGRADED, f"{count} dead letter(s)")
    for key, what in (
        ("failed_alerts", "alert(s) failed for good"),
        ("overdue_acceptances", "acceptance(s) overdue"),
    ):
        if count := report[key]["count"]:
            verdict.add(Level.DEGRADED, f"{count} {what}")
    held = report["held"]
    if held["count"] and (held["oldest_age_seconds"] or 0) > TRIAGE_AGE:
        hours = held["oldest_age_seconds"] / 3600
        verdict.add(Level.DEGRADED, f"{held['count']} held for triage, oldest {hours:.0f} h")
    if hooks := report["disabled_webhooks"]:
        verdict.add(Level.DEGRADED, f"{len(hooks)} webhook(s) disabled")
    ending = [a["id"] for a in report["agreements_expiring"] if a["days_left"] <= AGREEMENT_DAYS]
    if ending:
        verdict.add(
            Level.DEGRADED, f"agreement(s) ending within {AGREEMENT_DAYS} days: {', '.join(ending)}"
        )
    _configuration(verdict, report["configuration"])
    return verdict


def _waiting(verdict: Verdict, name: str, entry: dict[str, Any]) -> None:
    age = entry.get("oldest_age_seconds")
    if age is None:
        return
    if age > FAILING_AGE:
        verdict.add(Level.FAILING, f"{name}: oldest event waiting {age:.0f} s")
    elif age > DEGRADED_AGE:
        verdict.add(Level.DEGRADED, f"{name}: oldest event waiting {age:.0f} s")


def _configuration(verdict: Verdict, config: dict[str, Any]) -> None:
    last = config["last_loaded"]
    if config["error"] and last is not None:
        # A running process refuses the change and keeps its version: referrals still
        # move, under the old rules, until someone fixes the files.
        verdict.add(
            Level.DEGRADED,
            f"configuration files fail to load: {config['error']}; the services keep "
            f"version {last['version']} (put in force at {last['at']})",
        )
        return
    if config["error"]:
        verdict.add(Level.FAILING, f"configuration cannot be loaded: {config['error']}")
        return
    if last is not None and last["version"] != config["version"]:
        verdict.add(
            Level.DEGRADED,
            f"configuration {config['version']} on disk is not in force "
            f"(last put in force: {last['version']})",
        )
