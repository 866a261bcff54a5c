"""Names for the codes pages would otherwise show: areas, organisations, interventions,
vocabulary labels and states, how urgent a risk is, and how long is left to respond."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.intake.console.vocab import codes
from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.geography import AREAS

STATES: dict[str, str] = {
    "received": "Received",
    "routed": "Routed",
    "held": "Held for hub triage",
    "awaiting": "Awaiting a response",
    "accepted": "Accepted",
    "in-progress": "In progress",
    "completed": "Completed",
    "declined": "Declined",
    "cancelled": "Cancelled",
}
"""Labels of the referral and response states (the API's codes, as a person reads them)."""

RISK_CLASSES: dict[str, str] = {"high": "tag-risk-high", "medium": "tag-risk-medium"}
"""Risk codes that are emphasised, and the tag class that does it (words and weight too,
never colour alone)."""


def area(code: str | None) -> str:
    """A local authority's name for its ONS code (the code itself when unknown)."""
    if not code:
        return ""
    return AREAS.get(code, code)


def organisation(config: RoutingConfiguration, org: str | None) -> str:
    """An organisation's name as configured (its id when the configuration lacks it)."""
    if not org:
        return ""
    found = config.organisation(org)
    return found.name if found else org


def intervention(config: RoutingConfiguration, intervention_id: str | None) -> str:
    """An intervention's title as configured (its id when the configuration lacks it)."""
    if not intervention_id:
        return ""
    found = config.intervention(intervention_id)
    return found.title if found else intervention_id


def label(config: RoutingConfiguration, vocabulary: str, code: str | None) -> str:
    """A code's label in one vocabulary as /v1/vocabularies names it (e.g. decline-reasons);
    the code itself when the vocabulary no longer has it."""
    if not code:
        return ""
    return codes(config, vocabulary).get(code, code)


def state(code: str | None) -> str:
    """A referral's or a response's state as words."""
    if not code:
        return ""
    return STATES.get(code, code.replace("-", " ").capitalize())


def risk_class(code: str | None) -> str:
    """The tag class that emphasises a risk level ('' for one not emphasised)."""
    return RISK_CLASSES.get(code or "", "")


@dataclass(frozen=True, slots=True)
class Due:
    """How long is left to respond: 'due in 5 h', or 'overdue by 2 h'."""

    text: str
    overdue: bool


def span(delta: timedelta) -> str:
    """A length of time as a person says it: minutes under an hour, hours (and minutes
    under ten hours) under two days, then days."""
    minutes = int(abs(delta).total_seconds() // 60)
    if minutes < 1:
        return "less than a minute"
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {rest} min" if rest and hours < 10 else f"{hours} h"
    days = hours // 24
    return f"{days} days"


def due(respond_by: datetime | None, now: datetime) -> Due | None:
    """Time left until `respond_by`, or how far past it; None when there is no deadline."""
    if respond_by is None:
        return None
    left = respond_by - now
    if left < timedelta(0):
        return Due(f"overdue by {span(left)}", True)
    return Due(f"due in {span(left)}", False)
