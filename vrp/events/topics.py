"""Every topic name and consumer group, in one place."""

from __future__ import annotations

RECEIVED = "vrp.referral.received"
"""Full referrals, their cancellations and fallback offers from intake (personal data;
internal). Keyed by referral id, so a cancellation never overtakes its referral."""
DECIDED = "vrp.referral.decided"
"""Routing decisions without personal data: who received what, or why it is held."""
STATUS = "vrp.referral.status"
"""Receivers' responses (accepted, declined, in progress, completed); ids and codes only."""
UPDATES = "vrp.referral.updates"
"""Every status change as its referrer is told it on partner.<org>.status (ids and codes),
for the notifier, which alerts referrers and must not read partner topics."""
ALERTS = "vrp.referral.alerts"
"""Alerts delivered by the notifier, and escalations of referrals nobody accepted (ids only)."""
DEAD_LETTER = "vrp.dead-letter"
"""Events no consumer could process, with the reason."""

INTERNAL = (RECEIVED, DECIDED, STATUS, UPDATES, ALERTS, DEAD_LETTER)

INTAKE_GROUP = "vrp-intake"
ROUTER_GROUP = "vrp-router"
NOTIFIER_GROUP = "vrp-notifier"
NOTIFIER_UPDATES_GROUP = "vrp-notifier-updates"
"""The notifier's consumer of referrer updates: it tells referrers what happened and stops a
referral's timers once its team responds."""
INTAKE_INBOX_GROUP = "vrp-intake-inbox"
"""Intake's consumer of every partner topic: it keeps each receiver's inbox for the API."""
INTAKE_DEAD_LETTERS_GROUP = "vrp-intake-dead-letters"
"""Intake's consumer of dead letters: a referral whose event no consumer could process says
so on its timeline, rather than waiting in silence."""


def partner_referrals(org_id: str) -> str:
    """The topic on which one organisation receives the referrals routed to it.

    The VRU hub's topic also carries referrals held for triage, minimised by the
    hub-triage flow of the sender's agreement (or ids and reasons only, without one).
    """
    return f"{PARTNER_PREFIX}{org_id}{PARTNER_SUFFIX}"


def partner_status(org_id: str) -> str:
    """The topic on which one organisation follows the referrals it sent (ids and codes)."""
    return f"{PARTNER_PREFIX}{org_id}{PARTNER_STATUS_SUFFIX}"


PARTNER_PREFIX = "partner."
PARTNER_SUFFIX = ".referrals"
PARTNER_STATUS_SUFFIX = ".status"
"""Every partner topic is PARTNER_PREFIX + organisation id + PARTNER_SUFFIX."""


def partner_of(topic: str) -> str | None:
    """The organisation a partner referrals topic belongs to, or None for other topics."""
    if topic.startswith(PARTNER_PREFIX) and topic.endswith(PARTNER_SUFFIX):
        org = topic[len(PARTNER_PREFIX) : -len(PARTNER_SUFFIX)]
        return org or None
    return None
