"""When an offer's respond-by time, reminder and escalation fall, at a given clock speed."""

from __future__ import annotations

from datetime import datetime, timedelta

from vrp.domain.configuration import Intervention

DEFAULT_SLA = timedelta(hours=48)
"""The respond-by allowance of an intervention a reloaded configuration no longer has."""
MAX_SPEED = 3600
"""The fastest demo clock: an hour of configured time in a second."""


def scaled(duration: timedelta, speed: int = 1) -> timedelta:
    """A configured duration as the timers run it: divided by the demo clock's speed (1:
    real time), never below one second."""
    if speed <= 1:
        return duration
    return max(duration / speed, timedelta(seconds=1))


def respond_by(offered_at: datetime, intervention: Intervention | None, speed: int = 1) -> datetime:
    """When the team must respond to an offer made at offered_at."""
    sla = intervention.acceptance_sla if intervention else DEFAULT_SLA
    return offered_at + scaled(sla, speed)


def reminder_at(due: datetime, intervention: Intervention | None, speed: int = 1) -> datetime:
    """When an offer due at `due` is reminded: remind_after from the offer, else at `due`."""
    if intervention is None or intervention.remind_after is None:
        return due
    offered_at = due - scaled(intervention.acceptance_sla, speed)
    return offered_at + scaled(intervention.remind_after, speed)


def escalation_at(
    due: datetime, intervention: Intervention | None, speed: int = 1
) -> datetime | None:
    """When an offer due at `due` is escalated to the hub (None: never)."""
    if intervention is None or intervention.escalate_after is None:
        return None
    return due + scaled(intervention.escalate_after, speed)


def demo_clock_banner(speed: int) -> str | None:
    """What pages and status screens say while the demo clock runs (None: real time)."""
    return f"Demo clock: timers run {speed}\N{MULTIPLICATION SIGN} faster" if speed != 1 else None
