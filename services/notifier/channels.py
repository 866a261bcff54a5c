"""What every alert channel implements, and the alert it sends: ids and codes only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from vrp.domain.vocabulary import AlertKind
from vrp.domain.vocabulary import Channel as ChannelName


class DeliveryFailed(Exception):
    """Delivery failed. retryable: trying again may succeed; retry_after: seconds the receiver
    asked us to wait (429/503 Retry-After); gone: the endpoint no longer exists (410)."""

    def __init__(
        self,
        reason: str,
        retryable: bool,
        status_code: int | None = None,
        retry_after: float | None = None,
        gone: bool = False,
    ) -> None:
        super().__init__(reason)
        self.retryable = retryable
        self.status_code = status_code
        self.retry_after = retry_after
        self.gone = gone


@dataclass(frozen=True)
class Alert:
    """One alert to one address on one channel. Never carries personal data: a reference,
    the intervention, the urgency and risk level, the respond-by time, a status code and a
    link."""

    id: str
    """The notification id: the Message-ID, Notify reference and webhook-id, so a resend after
    a crash is recognisable as the same alert."""
    kind: AlertKind
    channel: ChannelName
    organisation: str
    organisation_name: str
    address: str
    """Email address, phone number or webhook URL."""
    referral_id: str
    reference: str
    link: str
    intervention: str | None = None
    intervention_title: str | None = None
    urgency: str | None = None
    """routine, urgent or immediate: what the partnership gives the risk level."""
    risk: str | None = None
    """The referrer's coded risk level."""
    respond_by: datetime | None = None
    status: str | None = None
    """For status updates and escalations: routed, held, accepted, declined, ..."""
    reason: str | None = None
    """A coded reason or outcome (decline reason, completion outcome, failure code)."""
    api: str = ""
    """Where a system follows the referral in the partner API ('' for the hub's alerts);
    `link` is the console page a person opens."""
    receiver_name: str | None = None
    """For status updates: the organisation the referral was routed to, or that responded."""
    reason_label: str | None = None
    """The coded reason's label in the vocabularies in force (for the words of an email)."""

    def fields(self) -> dict[str, str]:
        """Every field as text (Notify personalisation, webhook data); empty when not set."""
        return {
            "kind": self.kind,
            "reference": self.reference,
            "referral_id": self.referral_id,
            "organisation": self.organisation_name,
            "intervention": self.intervention_title or self.intervention or "",
            "urgency": self.urgency or "",
            "risk": self.risk or "",
            "respond_by": self.respond_by.isoformat(timespec="minutes") if self.respond_by else "",
            "status": self.status or "",
            "reason": self.reason or "",
            "link": self.link,
            "api": self.api,
            "receiver": self.receiver_name or "",
        }


class Channel(Protocol):
    """A way of delivering alerts (SMTP, GOV.UK Notify, signed webhooks)."""

    async def send(self, alert: Alert) -> int | None:
        """Deliver the alert, returning the receiver's status code when the channel has one;
        raise DeliveryFailed otherwise."""

    async def close(self) -> None:
        """Release connections."""

    def describe(self) -> str:
        """Where alerts go, for start-up messages (no secrets)."""
