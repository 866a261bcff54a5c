"""What every alert channel implements, and the alert it sends: ids and codes only."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Protocol

from vrp.domain.vocabulary import AlertKind, UpdateChannel


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
class Reply:
    """What a FHIR reply says besides the alert's fields: the message it answers and the
    states it reports, fixed when staged (ids, codes and times: a resend is the same)."""

    bundle_id: str
    """The sender's Bundle that made the referral (MessageHeader.response.identifier)."""
    service_request_id: str
    correlation_id: str | None
    category: str | None
    referral_status: str
    """The referral's state (received, routed, ... cancelled) once this change was made."""
    received_at: datetime
    changed_at: datetime
    assembled_at: datetime
    organisation: str | None = None
    """The organisation whose handling changed (its Task); None for held or cancelled."""
    task_status: str | None = None
    """Its response state: awaiting, accepted, declined, in-progress or completed."""
    reason: str | None = None
    outcome: str | None = None
    offered_at: datetime | None = None

    def detail(self) -> dict[str, Any]:
        """As the alert row's detail keeps it (JSON)."""
        return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(self).items()}

    @classmethod
    def of(cls, detail: dict[str, Any] | None) -> Reply | None:
        """The reply a row's detail keeps, if any."""
        if not detail:
            return None
        offered = detail.get("offered_at")
        return cls(
            bundle_id=detail["bundle_id"],
            service_request_id=detail["service_request_id"],
            correlation_id=detail.get("correlation_id"),
            category=detail.get("category"),
            referral_status=detail["referral_status"],
            received_at=datetime.fromisoformat(detail["received_at"]),
            changed_at=datetime.fromisoformat(detail["changed_at"]),
            assembled_at=datetime.fromisoformat(detail["assembled_at"]),
            organisation=detail.get("organisation"),
            task_status=detail.get("task_status"),
            reason=detail.get("reason"),
            outcome=detail.get("outcome"),
            offered_at=datetime.fromisoformat(offered) if offered else None,
        )


@dataclass(frozen=True)
class Alert:
    """One alert to one address on one channel. Never carries personal data: a reference,
    the intervention, the urgency and risk level, the respond-by time, a status code and a
    link."""

    id: str
    """The notification id: the Message-ID, Notify reference and webhook-id, so a resend after
    a crash is recognisable as the same alert."""
    kind: AlertKind
    channel: UpdateChannel
    organisation: str
    organisation_name: str
    address: str
    """Email address, phone number, webhook URL or FHIR endpoint."""
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
    reply: Reply | None = None
    """For the FHIR channel: the conversation it answers and the states it reports."""

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
    """A way of delivering alerts (SMTP, GOV.UK Notify, signed webhooks, FHIR replies)."""

    async def send(self, alert: Alert) -> int | None:
        """Deliver the alert, returning the receiver's status code when the channel has one;
        raise DeliveryFailed otherwise."""

    async def close(self) -> None:
        """Release connections."""

    def describe(self) -> str:
        """Where alerts go, for start-up messages (no secrets)."""
