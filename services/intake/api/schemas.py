"""HTTP wire models (distinct from tables and domain objects), each with an example."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi.routing import APIRoute
from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from vrp.domain.lifecycle import RecipientState
from vrp.domain.vocabularies import Code

_ID = "0193a5b2-7c4e-7d21-9f3a-1b2c3d4e5f60"
_AT = "2026-11-25T10:15:00Z"


SUBMISSION_EXAMPLE: dict[str, Any] = {
    "referrer": {
        "name": "Sam Example",
        "role": "A&E safeguarding nurse",
        "contact": {"email": "sam.example@uhb.example", "phone": "0121 000 0000"},
    },
    "subject": {
        "given_name": "Alex",
        "family_name": "Fictional",
        "date_of_birth": "2010-03-14",
        "nhs_number": "9434765919",
        "postcode": "B10 0AA",
        "contact": {"phone": "07700 900123"},
        "sex": "male",
    },
    "reasons": ["assault-injury", "knife-crime"],
    "risk": "high",
    "consent": {"state": "given", "recorded_on": "2026-11-25"},
    "summary": "Stab wound to the arm, treated and discharged.",
}


def _example(example: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [example]})


class AcceptedResponse(BaseModel):
    """202 body: the referral is stored durably and will be routed."""

    model_config = _example(
        {
            "id": _ID,
            "reference": "VRP-3D4E5F6071",
            "status": "received",
            "status_url": f"https://intake.vrp.example/v1/referrals/{_ID}",
        }
    )
    id: str
    reference: str
    status: str
    status_url: str


class TimelineEntry(BaseModel):
    """One thing that happened to a referral."""

    type: str = Field(examples=["routed"])
    at: datetime
    detail: dict[str, Any]


class RecipientView(BaseModel):
    """An organisation that received the referral and where its response stands (no data)."""

    organisation: str = Field(examples=["navigators"])
    intervention: str = Field(examples=["navigators-birmingham"])
    status: RecipientState
    reason: str | None = None
    outcome: str | None = None
    received_at: datetime
    updated_at: datetime


class StatusResponse(BaseModel):
    """What the originator may see: status, timeline and recipients, never their data."""

    model_config = _example(
        {
            "id": _ID,
            "reference": "VRP-3D4E5F6071",
            "status": "accepted",
            "received_at": _AT,
            "updated_at": "2026-11-25T11:02:00Z",
            "timeline": [
                {"type": "received", "at": _AT, "detail": {}},
                {"type": "routed", "at": "2026-11-25T10:15:01Z", "detail": {}},
                {
                    "type": "delivered",
                    "at": "2026-11-25T10:15:01Z",
                    "detail": {"organisation": "navigators"},
                },
                {
                    "type": "accepted",
                    "at": "2026-11-25T11:02:00Z",
                    "detail": {"organisation": "navigators"},
                },
            ],
            "recipients": [
                {
                    "organisation": "navigators",
                    "intervention": "navigators-birmingham",
                    "status": "accepted",
                    "received_at": "2026-11-25T10:15:01Z",
                    "updated_at": "2026-11-25T11:02:00Z",
                }
            ],
        }
    )
    id: str
    reference: str
    status: str
    received_at: datetime
    updated_at: datetime
    timeline: list[TimelineEntry]
    recipients: list[RecipientView]


class CancelRequest(BaseModel):
    """Why the originator withdraws the referral (a code, never free text)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "duplicate"}]}
    )
    reason: Code  # from the configuration's cancel-reasons (the OpenAPI enum lists them)


def _written_time(value: object) -> object:
    # A JSON number would otherwise be read as a Unix timestamp; a time is written out.
    if isinstance(value, int | float):
        raise ValueError("must be a date-time written as in RFC 3339, with its offset")
    return value


FirstContact = Annotated[
    AwareDatetime | None,
    BeforeValidator(_written_time),
    Field(
        description="Optional: when your service first made contact with the person (RFC "
        "3339, with its offset). Not in the future (5 minutes' clock difference allowed), "
        "not before the referral was offered to you; recorded once: repeat your current "
        "response with it to record it later, and a different time afterwards is 409."
    ),
]


class Accept(BaseModel):
    """The receiving organisation takes the referral on."""

    model_config = ConfigDict(extra="forbid")
    status: Literal["accepted"]
    intervention: str | None = Field(default=None, max_length=64)
    first_contact_at: FirstContact = None


class Decline(BaseModel):
    """The receiving organisation will not take the referral on, with a coded reason."""

    model_config = ConfigDict(extra="forbid")
    status: Literal["declined"]
    reason: Code  # from the configuration's decline-reasons
    intervention: str | None = Field(default=None, max_length=64)


class InProgress(BaseModel):
    """Work with the person has started."""

    model_config = ConfigDict(extra="forbid")
    status: Literal["in-progress"]
    intervention: str | None = Field(default=None, max_length=64)
    first_contact_at: FirstContact = None


class Complete(BaseModel):
    """The intervention ended, with a coded outcome."""

    model_config = ConfigDict(extra="forbid")
    status: Literal["completed"]
    outcome: Code  # from the configuration's outcomes
    intervention: str | None = Field(default=None, max_length=64)
    first_contact_at: FirstContact = None


ResponseRequest = Annotated[Accept | Decline | InProgress | Complete, Field(discriminator="status")]


class InboxItem(BaseModel):
    """A referral routed to your organisation, exactly as minimised for you."""

    model_config = _example(
        {
            "referral_id": _ID,
            "reference": "VRP-3D4E5F6071",
            "intervention": "navigators-birmingham",
            "status": "awaiting",
            "reason": None,
            "outcome": None,
            "received_at": "2026-11-25T10:15:01Z",
            "updated_at": "2026-11-25T10:15:01Z",
            "referral": {
                "referral_id": _ID,
                "reference": "VRP-3D4E5F6071",
                "intervention": "navigators-birmingham",
                "intervention_title": "Hospital youth violence navigators (Birmingham)",
                "from_organisation": "uhb",
                "agreement_id": "isa-uhb-navigators",
                "agreement_version": 2,
                "flow_id": "ed-to-navigators",
                "respond_by": "2026-11-26T10:15:00Z",
                "data": {"subject.name": "Alex Fictional", "risk": "high"},
            },
        }
    )
    referral_id: str
    reference: str
    intervention: str
    status: RecipientState
    reason: str | None
    outcome: str | None
    received_at: datetime
    updated_at: datetime
    accepted_at: datetime | None = Field(default=None, description="When you accepted it.")
    first_contact_at: datetime | None = Field(
        default=None, description="When you first made contact with the person, as you said."
    )
    closed_at: datetime | None = Field(
        default=None, description="When you declined or completed it."
    )
    referral: dict[str, Any] = Field(
        description="The uk.vrp.partner.referral.v1 event data exactly as published to you."
    )


class InboxPage(BaseModel):
    """A page of your inbox, oldest first."""

    model_config = _example(
        {"items": [InboxItem.model_config["json_schema_extra"]["examples"][0]], "next_cursor": None}  # type: ignore[index]
    )
    items: list[InboxItem]
    next_cursor: str | None = Field(description="Pass as cursor to get the next page.")


class InboxReferral(BaseModel):
    """Your organisation's entries for one referral (one per intervention, usually one)."""

    model_config = _example(
        {"referral_id": _ID, "items": [InboxItem.model_config["json_schema_extra"]["examples"][0]]}  # type: ignore[index]
    )
    referral_id: str
    items: list[InboxItem]


class Vocabulary(BaseModel):
    """A coded vocabulary: code -> label."""

    codes: dict[str, str]


class ConfigurationHealth(BaseModel):
    """The configuration files changed but failed to load; the old version stays in force."""

    status: Literal["reload-failed"]
    files: list[str] = Field(description="The files the problems name.")
    failed_at: datetime
    problems: list[str] = Field(
        description="The first problems, each naming file, line and field (never a value)."
    )
    more_problems: int = Field(description="Problems beyond those listed.")
    version: str = Field(description="The configuration version still in force.")
    since: datetime = Field(description="When this process put that version in force.")


class HealthResponse(BaseModel):
    """The process (or its database) answers."""

    model_config = _example({"status": "ready", "database": "ok", "broker": "ok"})
    status: str = Field(
        description="ok (liveness); ready, or degraded while the broker is unreachable "
        "(referrals are still accepted durably and published when it is back) or while the "
        "configuration files fail to load (the old version still serves)."
    )
    database: Literal["ok"] | None = Field(default=None, description="Readiness only.")
    broker: Literal["ok", "unavailable"] | None = Field(
        default=None, description="Readiness in the Kafka deployment only."
    )
    configuration: ConfigurationHealth | None = Field(
        default=None, description="Readiness only, and only while a reload has failed."
    )
    demo_clock: str | None = Field(
        default=None,
        description="Readiness, only while a demo clock runs the SLA timers faster.",
        examples=["Demo clock: timers run 60\N{MULTIPLICATION SIGN} faster"],
    )


class TokenResponse(BaseModel):
    """An OAuth 2.0 access token (RFC 6749 section 5.1)."""

    model_config = _example(
        {
            "access_token": "vat_3q2-example-only",
            "token_type": "bearer",
            "expires_in": 300,
            "scope": "referrals:read referrals:submit",
        }
    )
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    expires_in: int
    scope: str


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "detail"],
                "properties": {"field": {"type": "string"}, "detail": {"type": "string"}},
            },
        },
        "error": {"type": "string", "description": "OAuth error code (token endpoint only)"},
        "error_description": {"type": "string"},
    },
}

_DESCRIPTIONS = {
    400: "Malformed request",
    401: "Missing, unknown, revoked or expired credentials",
    403: "The credentials lack the scope this operation needs",
    404: "No such referral visible to your organisation",
    408: "The headers or the body did not arrive in time; the connection is closed",
    409: "Conflicts with the referral's state, or the same Idempotency-Key is in flight",
    413: "Request body too large",
    415: "The body is not application/json",
    422: "Invalid input; `errors` names each offending field",
    431: "Too many header fields, or headers too large; the connection is closed",
    429: "Rate limit exceeded, or too many failed authentications; see Retry-After",
    503: "Not ready, or too many requests in progress; see Retry-After",
}
_EXAMPLE_DETAIL = {
    409: "a referral that is 'declined' cannot become 'accepted'",
    422: "1 problem(s), first at 'subject.nhs_number'",
}


def operation_id(route: APIRoute) -> str:
    """An operation's id in the OpenAPI document: its function's name (for links)."""
    return route.name


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses for these problem statuses (application/problem+json)."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        example = {
            "type": "https://vrp.example/problems/...",
            "title": _DESCRIPTIONS[code],
            "status": code,
            "detail": _EXAMPLE_DETAIL.get(code, _DESCRIPTIONS[code]),
        }
        entry: dict[str, Any] = {
            "description": _DESCRIPTIONS[code],
            "content": {"application/problem+json": {"schema": PROBLEM_SCHEMA, "example": example}},
        }
        if code in (409, 429, 503):
            entry["headers"] = {
                "Retry-After": {"schema": {"type": "string"}, "description": "Seconds to wait"}
            }
        out[code] = entry
    return out


AUTHED = (400, 401, 403, 429)
"""Authenticated operations: 400 for a repeated Authorization header."""
JSON_BODY = (400, 413, 415, 422)
"""Operations with a JSON body: malformed or not UTF-8, too large, another media type."""
