"""Which alerts an occasion calls for: one row per recipient and channel, never two."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from vrp.domain.configuration import Organisation, RoutingConfiguration
from vrp.domain.identifiers import new_id
from vrp.domain.vocabulary import AlertKind, Channel
from vrp.store.database import Database
from vrp.store.tables import notifications
from vrp.telemetry import current_traceparent

log = logging.getLogger(__name__)

EMAIL_ONLY: Sequence[Channel] = ("email",)
"""Channels for an organisation or intervention the configuration no longer has."""


def address(org: Organisation, channel: Channel) -> str | None:
    """Where the organisation takes alerts on channel (None when it gave no contact)."""
    c = org.contacts
    if channel == "email":
        return c.email
    if channel == "sms":
        return c.sms
    return c.webhook.url if c.webhook else None


@dataclass
class Staged:
    """Alert rows for one transaction; insert them with `save`."""

    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(
        self,
        config: RoutingConfiguration,
        org_id: str,
        channels: Sequence[Channel],
        kind: AlertKind,
        key: str,
        referral_id: str,
        detail: dict[str, Any],
        now: datetime,
    ) -> None:
        """One alert per channel to org_id; key names the occasion and recipient (it de-duplicates
        redelivered events: the same occasion never alerts twice on one channel)."""
        org = config.organisation(org_id)
        if org is None:
            log.warning("no organisation %s in the configuration: %s alert not sent", org_id, kind)
            return
        for channel in channels:
            to = address(org, channel)
            if to is None:
                # `vrp rules check` refuses this; a configuration loaded before that check
                # existed still must not fail the whole event.
                log.warning(
                    "organisation %s has no %s contact: %s alert not sent", org_id, channel, kind
                )
                continue
            self.rows.append(
                {
                    "id": str(new_id()),
                    "dedupe_key": f"{key}:{channel}:{kind}"[:200],
                    "referral_id": referral_id,
                    "organisation": org_id,
                    "channel": channel,
                    "address": to,
                    "kind": kind,
                    "detail": detail,
                    "status": "pending",
                    "attempts": 0,
                    "traceparent": current_traceparent(),
                    "created_at": now,
                    "next_attempt_at": now,
                }
            )

    async def save(self, db: Database, conn: AsyncConnection) -> int:
        """Insert the rows not staged before; returns how many were new."""
        if not self.rows:
            return 0
        return len(
            await db.insert_ignore_returning(conn, notifications, self.rows, notifications.c.id)
        )
