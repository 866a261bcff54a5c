"""People who use the web console: their roles, what each role may do, and lockout."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum


class Role(StrEnum):
    """A person's role within their organisation."""

    TEAM_MEMBER = "team-member"
    TEAM_LEAD = "team-lead"
    HUB_COORDINATOR = "hub-coordinator"
    IG_LEAD = "ig-lead"
    REFERRER = "referrer"
    ANALYST = "analyst"


class Permission(StrEnum):
    """Something a page or form lets a person do."""

    INBOX = "inbox"  # read and respond to referrals routed to their organisation
    TRIAGE = "triage"  # the hub's held and declined referrals, manual routing, closing
    DASHBOARD = "dashboard"  # partnership-wide counts, small numbers suppressed
    DIRECTORY = "directory"  # interventions and agreements as loaded
    DISCLOSURES = "disclosures"  # what was shared under each agreement flow
    SENT = "sent"  # referrals their organisation sent: status, timeline, responses
    EVIDENCE = "evidence"  # evaluation and needs assessment: aggregates, small numbers suppressed


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.TEAM_MEMBER: frozenset({Permission.INBOX, Permission.DIRECTORY}),
    Role.TEAM_LEAD: frozenset({Permission.INBOX, Permission.DIRECTORY, Permission.DASHBOARD}),
    Role.HUB_COORDINATOR: frozenset(
        {Permission.TRIAGE, Permission.DASHBOARD, Permission.DIRECTORY}
    ),
    Role.IG_LEAD: frozenset(
        {Permission.DASHBOARD, Permission.DIRECTORY, Permission.DISCLOSURES, Permission.EVIDENCE}
    ),
    Role.REFERRER: frozenset({Permission.SENT, Permission.DIRECTORY}),
    Role.ANALYST: frozenset({Permission.EVIDENCE, Permission.DASHBOARD, Permission.DIRECTORY}),
}

ROLE_LABELS: dict[Role, str] = {
    Role.TEAM_MEMBER: "Team member",
    Role.TEAM_LEAD: "Team lead",
    Role.HUB_COORDINATOR: "Hub coordinator",
    Role.IG_LEAD: "Information-governance lead",
    Role.REFERRER: "Referrer",
    Role.ANALYST: "Analyst",
}


def may(role: Role, permission: Permission) -> bool:
    """Whether a role carries a permission."""
    return permission in GRANTS[role]


def lockout(failed: int, after: int, first: timedelta, longest: timedelta) -> timedelta | None:
    """How long an account stays locked after `failed` consecutive failed sign-ins: not at
    all below `after`, then `first`, doubling with each further failure up to `longest`
    (so guessing costs more and more time, and a person who mistyped waits briefly)."""
    if failed < after:
        return None
    doublings = min(failed - after, 20)  # 2**20 times any sane first period exceeds longest
    return min(first * (1 << doublings), longest)
