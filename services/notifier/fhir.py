"""FHIR replies: a BaRS `servicerequest-response` message POSTed to the referrer's registered
FHIR endpoint as `application/fhir+json`, signed as webhooks are (`webhook.SignedPost`)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from services.notifier.channels import Alert, DeliveryFailed
from services.notifier.webhook import SignedPost, utcnow
from vrp.domain.configuration import FhirEndpoint
from vrp.fhir import replies, tasks

MEDIA_TYPE = "application/fhir+json"


def message(base: str, alert: Alert) -> dict[str, Any]:
    """The reply the alert describes: the ServiceRequest, and the changed organisation's Task
    when the change was its. The notification id is the Bundle's, so a resend is the same
    message; no personal data (the builders carry none)."""
    reply = alert.reply
    if reply is None:
        raise ValueError("a FHIR reply needs its conversation")
    recipients = []
    if reply.organisation and reply.task_status and alert.intervention:
        recipients.append(
            tasks.Recipient(
                organisation=reply.organisation,
                name=alert.receiver_name or reply.organisation,
                intervention=alert.intervention,
                status=reply.task_status,
                reason=reply.reason,
                outcome=reply.outcome,
                received_at=reply.offered_at or reply.changed_at,
                updated_at=reply.changed_at,
                delivered=False,  # the team's own alert is not a change of status
            )
        )
    referral = tasks.Referral(
        id=alert.referral_id,
        reference=alert.reference,
        status=reply.referral_status,
        received_at=reply.received_at,
        updated_at=reply.changed_at,
        category=reply.category,
        service_request_id=reply.service_request_id,
        recipients=recipients,
    )
    focus = [tasks.service_request(base, referral)]
    focus += [tasks.task(base, referral, r) for r in recipients]
    return replies.response_message(
        base, reply.bundle_id, alert.address, focus, message_id=alert.id, at=reply.assembled_at
    )


class FhirChannel:
    """Delivers FHIR replies to each referrer's registered endpoint (`contacts.fhir`)."""

    def __init__(
        self,
        endpoints: Callable[[str], FhirEndpoint | None],
        base: str,
        environ: Mapping[str, str] = os.environ,
        clock: Callable[[], datetime] = utcnow,
        timeout: float = 10.0,
    ) -> None:
        self._endpoints = endpoints
        self._base = base
        self._post = SignedPost("fhir", environ, clock, timeout)

    async def send(self, alert: Alert) -> int | None:
        """POST the reply to `alert.address`, signed; the status code, or DeliveryFailed."""
        endpoint = self._endpoints(alert.organisation)
        if endpoint is None:
            raise DeliveryFailed("fhir endpoint not configured", retryable=False)
        if alert.reply is None:
            raise DeliveryFailed("fhir reply without its conversation", retryable=False)
        now = self._post.now()
        secrets = self._post.secrets(endpoint, now)
        body = json.dumps(message(self._base, alert), separators=(",", ":"))
        headers = {
            "content-type": MEDIA_TYPE,
            "accept": MEDIA_TYPE,
            # BaRS: the message's own id for this request (a resend is the same request), and
            # the conversation's correlation id as the sender gave it.
            "x-request-id": alert.id,
        }
        if alert.reply.correlation_id:
            headers["x-correlation-id"] = alert.reply.correlation_id
        return await self._post.post(alert.address, alert.id, body, headers, secrets, now)

    async def close(self) -> None:
        """Close the shared HTTP client and its connections."""
        await self._post.close()

    def describe(self) -> str:
        """Where replies go (each referrer's registered FHIR endpoint)."""
        return f"FHIR replies from {self._base}"
