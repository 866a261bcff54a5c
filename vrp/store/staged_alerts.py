"""Which alerts an occasion calls for: one row per recipient and channel, never two. The
notifier's occasions stage them (services/notifier/staging.py), and so does the hub chasing
a team from its console."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from vrp.domain.configuration import Organisation, RoutingConfiguration
from vrp.domain.vocabulary import AlertKind, UpdateChannel
from vrp.store.notifications import NewAlert

log = logging.getLogger(__name__)


def address(org: Organisation, channel: UpdateChannel) -> str | None:
    """Where the organisation takes alerts on channel (None when it gave no contact)."""
    c = org.contacts
    if channel == "email":
        return c.email
    if channel == "sms":
        return c.sms
    if channel == "fhir":
        return c.fhir.url if c.fhir else None
    return c.webhook.url if c.webhook else None


def alerts(
    config: RoutingConfiguration,
    org_id: str,
    channels: Sequence[UpdateChannel],
    kind: AlertKind,
    key: str,
    referral_id: str,
    detail: dict[str, Any],
    now: datetime,
) -> list[NewAlert]:
    """One alert per channel to org_id; key names the occasion and recipient (it de-duplicates
    redelivered events: the same occasion never alerts twice on one channel). Each carries
    the active span's trace context."""
    org = config.organisation(org_id)
    if org is None:
        log.warning("no organisation %s in the configuration: %s alert not sent", org_id, kind)
        return []
    staged: list[NewAlert] = []
    for channel in channels:
        to = address(org, channel)
        if to is None:
            # `vrp rules check` refuses this; a configuration loaded before that check
            # existed still must not fail the whole event.
            log.warning(
                "organisation %s has no %s contact: %s alert not sent", org_id, channel, kind
            )
            continue
        staged.append(
            NewAlert(
                occasion=key,
                referral_id=referral_id,
                organisation=org_id,
                channel=channel,
                address=to,
                kind=kind,
                detail=detail,
                created_at=now,
            )
        )
    return staged
