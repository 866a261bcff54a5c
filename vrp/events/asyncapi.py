"""The AsyncAPI 3 document partners read: partner topics, their CloudEvents, security."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from vrp.events.envelope import EventData
from vrp.events.models import (
    HeldForTriage,
    PartnerReferral,
    PartnerReferralCancelled,
    PartnerReferralStatus,
)
from vrp.events.wiring import PARTNER_REFERRALS, PARTNER_STATUS

CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
_EXAMPLE_ID = "01a213be-199c-703e-b2b8-239618ae8fc2"
_EXAMPLE_TIME = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
REFERRALS = ("PartnerReferral", "PartnerReferralCancelled", "HeldForTriage")
"""Messages on partner.<org>.referrals (HeldForTriage: the VRU hub's topic only)."""


def _message_schema(model: type[EventData]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The structured-mode CloudEvent schema for one event type, and the $defs it needs."""
    data = model.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = data.pop("$defs", {})
    schema = {
        "type": "object",
        "title": model.TYPE,
        "description": "A CloudEvents 1.0 event in structured JSON mode.",
        "required": ["specversion", "id", "source", "type", "time", "data"],
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {"type": "string", "description": "Unique event id: deduplicate on it."},
            "source": {"type": "string", "examples": ["/vrp/router"]},
            "type": {"const": model.TYPE},
            "subject": {"type": "string", "description": "The referral id."},
            "time": {"type": "string", "format": "date-time"},
            "datacontenttype": {"const": "application/json"},
            "traceparent": {"type": "string", "description": "W3C trace context."},
            "data": {"$ref": f"#/components/schemas/{model.__name__}"},
        },
        "additionalProperties": False,
    }
    defs[model.__name__] = data
    return schema, defs


def _examples() -> dict[str, dict[str, Any]]:
    referral = PartnerReferral(
        referral_id=_EXAMPLE_ID,
        reference="VRP-9618AE8FC2",
        intervention="navigators-birmingham",
        intervention_title="A&E youth violence navigators, Birmingham and Solihull",
        from_organisation="uhb",
        agreement_id="isa-ae-navigators",
        agreement_version=2,
        flow_id="ae-to-navigators",
        respond_by=_EXAMPLE_TIME.replace(day=26),
        data={
            "subject.name": {"given_name": "Alex", "family_name": "Fictional"},
            "subject.date_of_birth": "16-17",
            "subject.contact": {"phone": "07700 900123"},
            "reasons": ["assault-injury", "knife-crime"],
            "risk": "high",
        },
    )
    cancelled = PartnerReferralCancelled(
        referral_id=_EXAMPLE_ID,
        reference="VRP-9618AE8FC2",
        intervention="navigators-birmingham",
        reason="referred-in-error",
        cancelled_at=_EXAMPLE_TIME,
    )
    status = PartnerReferralStatus(
        referral_id=_EXAMPLE_ID,
        reference="VRP-9618AE8FC2",
        status="accepted",
        organisation="navigators",
        intervention="navigators-birmingham",
        at=_EXAMPLE_TIME,
    )
    held = HeldForTriage(
        referral_id=_EXAMPLE_ID,
        reference="VRP-9618AE8FC2",
        from_organisation="uhb",
        agreement_id="isa-hub-triage",
        agreement_version=1,
        flow_id="ae-to-hub",
        received_at=_EXAMPLE_TIME,
        data={"reasons": ["assault-injury"], "risk": "high"},
        held_reasons=["navigators-birmingham: no-agreement-flow"],
    )
    out = {}
    pairs: tuple[tuple[str, EventData], ...] = (
        ("PartnerReferral", referral),
        ("PartnerReferralCancelled", cancelled),
        ("HeldForTriage", held),
        ("PartnerReferralStatus", status),
    )
    for name, event in pairs:
        out[name] = {
            "specversion": "1.0",
            "id": "01a213be-19c7-7f9a-b88f-b1d5caa9d80e",
            "source": "/vrp/router",
            "type": event.TYPE,
            "subject": _EXAMPLE_ID,
            "time": _EXAMPLE_TIME.isoformat(),
            "datacontenttype": "application/json",
            "data": event.model_dump(mode="json"),
        }
    return out


def document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document, generated from the event models."""
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    examples = _examples()
    for model in (PartnerReferral, PartnerReferralCancelled, HeldForTriage, PartnerReferralStatus):
        schema, defs = _message_schema(model)
        schemas.update(defs)
        schemas[f"{model.__name__}Event"] = schema
        messages[model.__name__] = {
            "name": model.TYPE,
            "title": model.__name__,
            "summary": (model.__doc__ or "").strip().splitlines()[0],
            "contentType": CONTENT_TYPE,
            "headers": {
                "type": "object",
                "properties": {
                    "content-type": {"const": CONTENT_TYPE},
                    "traceparent": {"type": "string"},
                },
            },
            "bindings": {
                "kafka": {
                    "key": {"type": "string", "description": "The referral id (keeps order)."}
                }
            },
            "payload": {"$ref": f"#/components/schemas/{model.__name__}Event"},
            "examples": [{"name": "example", "payload": examples[model.__name__]}],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "VRP referral routing: partner topics",
            "version": "1.0.0",
            "description": (
                "Each receiving organisation reads its own topic, partner.<org>.referrals, "
                "with its own SCRAM-SHA-512 credentials; the broker lets it read nothing "
                "else. Events are CloudEvents 1.0 in structured JSON mode (the whole event "
                "is the message value; content-type header application/cloudevents+json). "
                "Deliveries are at least once: deduplicate on the event id. The event type "
                "carries its major version (…v1); a breaking change gets a new type."
            ),
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "partnership": {
                "host": "kafka.vrp.example:9093",
                "protocol": "kafka-secure",
                "description": "SASL_SSL with SCRAM-SHA-512 (SASL_PLAINTEXT on loopback "
                "in development).",
                "security": [{"$ref": "#/components/securitySchemes/partnerScram"}],
            }
        },
        "channels": {
            "partnerReferrals": {
                "address": PARTNER_REFERRALS.address(),
                "title": "Referrals routed to one organisation",
                "parameters": {
                    "organisation": {
                        "description": "Your organisation id in the partnership configuration."
                    }
                },
                "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in REFERRALS},
            },
            "partnerStatus": {
                "address": PARTNER_STATUS.address(),
                "title": "What happened to the referrals one organisation sent",
                "parameters": {
                    "organisation": {
                        "description": "Your organisation id in the partnership configuration."
                    }
                },
                "messages": {
                    "PartnerReferralStatus": {"$ref": "#/components/messages/PartnerReferralStatus"}
                },
            },
        },
        "operations": {
            "receiveReferrals": {
                "action": "receive",
                "channel": {"$ref": "#/channels/partnerReferrals"},
                "summary": "Referrals (minimised for you) and their cancellations.",
                "messages": [
                    {"$ref": f"#/channels/partnerReferrals/messages/{name}"} for name in REFERRALS
                ],
            },
            "followReferralsSent": {
                "action": "receive",
                "channel": {"$ref": "#/channels/partnerStatus"},
                "summary": "Routed or held, each receiver's response, and cancellation.",
                "messages": [{"$ref": "#/channels/partnerStatus/messages/PartnerReferralStatus"}],
            },
        },
        "components": {
            "messages": messages,
            "schemas": schemas,
            "securitySchemes": {
                "partnerScram": {
                    "type": "scramSha512",
                    "description": "One Kafka user per organisation, issued by the hub "
                    "(vrp partners add); its password is shown once.",
                }
            },
        },
    }
