"""The `servicerequest-response` message: our answer to a referral message, at once and on
every later change of status (BaRS role reversal: we are then the message's source)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from vrp.fhir import systems


def response_message(
    base: str,
    request_bundle_id: str,
    sender_endpoint: str | None,
    focus: list[dict[str, Any]],
    *,
    message_id: str | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """A message Bundle answering the Bundle `request_bundle_id`, carrying `focus` (the
    ServiceRequest first, then its Tasks). `message_id` makes a resend the same message."""
    bundle_id = message_id or str(uuid.uuid4())
    header_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{bundle_id}/MessageHeader"))
    timestamp = (at or datetime.now(UTC)).isoformat(timespec="milliseconds")
    header: dict[str, Any] = {
        "resourceType": "MessageHeader",
        "id": header_id,
        "eventCoding": {"system": systems.BARS_EVENTS, "code": systems.RESPONSE},
        "source": {"endpoint": base},
        "response": {"identifier": request_bundle_id, "code": "ok"},
        "focus": [{"reference": f"{r['resourceType']}/{r['id']}"} for r in focus],
    }
    if sender_endpoint:
        header["destination"] = [{"endpoint": sender_endpoint}]
    resources = [header, *focus]
    return {
        "resourceType": "Bundle",
        "id": bundle_id,
        "meta": {"lastUpdated": timestamp},
        "identifier": {"system": systems.MESSAGE_ID, "value": f"urn:uuid:{bundle_id}"},
        "type": "message",
        "timestamp": timestamp,
        "entry": [
            {"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r} for r in resources
        ],
    }
