"""Every topic name and consumer group, in one place."""

from __future__ import annotations

RECEIVED = "vrp.referral.received"
"""Full referrals and their cancellations from intake (personal data; internal). Keyed by
referral id, so a cancellation never overtakes its referral."""
DECIDED = "vrp.referral.decided"
"""Routing decisions without personal data: who received what, or why it is held."""
STATUS = "vrp.referral.status"
"""Receivers' responses (accepted, declined, in progress, completed); ids and codes only."""
ALERTS = "vrp.referral.alerts"
"""Alerts delivered by the notifier (ids only)."""
DEAD_LETTER = "vrp.dead-letter"
"""Events no consumer could process, with the reason."""

INTERNAL = (RECEIVED, DECIDED, STATUS, ALERTS, DEAD_LETTER)

INTAKE_GROUP = "vrp-intake"
ROUTER_GROUP = "vrp-router"
NOTIFIER_GROUP = "vrp-notifier"


def partner_referrals(org_id: str) -> str:
    """The topic on which one organisation receives the referrals routed to it.

    The VRU hub's topic also carries referrals held for triage, minimised by the
    hub-triage flow of the sender's agreement (or ids and reasons only, without one).
    """
    return f"partner.{org_id}.referrals"


def partner_status(org_id: str) -> str:
    """The topic on which one organisation follows the referrals it sent (ids and codes)."""
    return f"partner.{org_id}.status"
