"""The routing configuration: organisations, interventions, agreements and rules."""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta
from functools import cached_property
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from vrp.domain.checks import reference_problems
from vrp.domain.contacts import Contacts as Contacts  # re-exported
from vrp.domain.contacts import FhirEndpoint as FhirEndpoint
from vrp.domain.contacts import Notify as Notify
from vrp.domain.contacts import NotifyTemplate as NotifyTemplate
from vrp.domain.contacts import Webhook as Webhook
from vrp.domain.contacts import WebhookSecret as WebhookSecret
from vrp.domain.durations import Duration
from vrp.domain.index import ConfigIndex
from vrp.domain.vocabularies import Code, Vocabularies, VocabularySettings
from vrp.domain.vocabulary import AgreementStatus as AgreementStatus  # re-exported
from vrp.domain.vocabulary import (
    Channel,
    ConsentState,
    DataItem,
    OrgKind,
    Treatment,
    UpdateChannel,
)

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")]
AreaCode = Annotated[str, Field(pattern=r"^[ENSW][0-9]{8}$")]
"""An ONS local authority code (E08000025 is Birmingham)."""
RefusedConsent = Literal["refuse", "hold-for-hub"]
"""What becomes of a referral whose consent was refused or withdrawn with no override
ground: refused at intake (422), or accepted and held for the hub to decide."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Organisation(_Model):
    """A partner organisation; its id names its Kafka topics."""

    id: Slug
    name: str
    kind: OrgKind
    contacts: Contacts = Contacts()
    channels: list[Channel] = Field(
        default=["email"],
        description="How the organisation hears of alerts not tied to an intervention: "
        "referrals held for triage, escalations, failed deliveries.",
    )
    updates: list[UpdateChannel] = Field(
        default=[],
        description="How the organisation, as a referrer, is told what happened to its "
        "referrals, besides its Kafka status topic; `fhir`: a BaRS servicerequest-response "
        "message to `contacts.fhir` about each referral it sent through the FHIR door.",
    )


class Eligibility(_Model):
    """Who an intervention can take; an empty list means no restriction."""

    min_age: int = Field(default=0, ge=0, le=130)
    max_age: int = Field(default=130, ge=0, le=130)
    areas: list[AreaCode] = []
    reasons: list[Code] = []
    risks: list[Code] = Field(default=[], description="Codes from the risk-levels vocabulary.")


class EligibilityOverride(_Model):
    """Eligibility criteria a rule sets for the interventions it puts forward, replacing
    the interventions' own (to widen or narrow them); criteria not named are kept. An
    empty list lifts that restriction."""

    min_age: int | None = Field(default=None, ge=0, le=130)
    max_age: int | None = Field(default=None, ge=0, le=130)
    areas: list[AreaCode] | None = None
    reasons: list[Code] | None = None
    risks: list[Code] | None = None


class ConsentRule(_Model):
    """Whether consent is needed, and the grounds on which it may be overridden."""

    required: bool = True
    override_grounds: list[Code] = Field(
        default=[],
        description="Codes from the override-grounds vocabulary; a referral without consent "
        "goes ahead only if its recorded override names one of them.",
    )
    refused: RefusedConsent | None = Field(
        default=None,
        description="A hub-triage flow only: `hold-for-hub` accepts a referral from its senders "
        "whose consent was refused or withdrawn with no override ground, holds it for the hub "
        "and lets the hub read of it what this flow permits; `refuse` refuses it at intake "
        "whatever the partnership's `consent.refused` says. Unset: the partnership's choice.",
    )


class Intervention(_Model):
    """A service run by a provider organisation (Open Referral UK 'service')."""

    id: Slug
    provider: Slug
    title: str
    purpose: Slug
    eligibility: Eligibility = Eligibility()
    consent: ConsentRule = Field(
        default=ConsentRule(),
        description="The intervention's own consent rule; the agreement flow's must hold too. "
        "(`consent_required: true|false` is still read, as `consent: {required: ...}`.)",
    )
    capacity: int | None = Field(default=None, ge=0, description="Open referrals it can hold.")
    acceptance_sla: Duration = Field(
        default=timedelta(hours=48),
        description="How long the team has to respond: an offer's respond-by time is this "
        "long after it was made. (`acceptance_sla_hours: N` is still read, as N hours.)",
    )
    remind_after: Duration | None = Field(
        default=None,
        description="Not accepted this long after the offer: the team is reminded. None: "
        "at the respond-by time.",
    )
    escalate_after: Duration | None = Field(
        default=timedelta(hours=24),
        description="Still not accepted this long after the respond-by time: escalated to the "
        "hub (and offered to the fallback, if any). None: never escalated. "
        "(`escalate_after_hours: N` is still read, as N hours.)",
    )
    # The whole-hour keys of older files: a valid value is read as the duration (and
    # removed) before validation; one left here is invalid, and reported at its own line.
    acceptance_sla_hours: int | None = Field(
        default=None,
        ge=1,
        exclude=True,
        description="Deprecated: read as acceptance_sla (whole hours).",
        json_schema_extra={"deprecated": True},
    )
    escalate_after_hours: int | None = Field(
        default=None,
        ge=1,
        exclude=True,
        description="Deprecated: read as escalate_after (whole hours; null: never).",
        json_schema_extra={"deprecated": True},
    )
    on_escalation: Literal["withdraw", "keep"] = Field(
        default="keep",
        description="What an escalation does to this intervention's offer: `keep` leaves it "
        "open (the team may still accept), `withdraw` cancels it (reason `escalated`).",
    )
    fallback: Slug | None = Field(
        default=None, description="Offered the referral on escalation, through the router."
    )
    required_items: list[DataItem] = []
    channels: list[Channel] = ["email"]
    status: Literal["active", "paused"] = "active"
    pilot_start: date | None = Field(
        default=None,
        description="A pilot: the day it started. Its evaluation covers the pilot's dates and "
        "compares them with the same length of time immediately before.",
    )
    pilot_end: date | None = Field(
        default=None, description="The pilot's last day; unset: still running."
    )

    @model_validator(mode="after")
    def _pilot_dates(self) -> Self:
        if self.pilot_end is not None and (
            self.pilot_start is None or self.pilot_end < self.pilot_start
        ):
            raise ValueError("pilot_end needs a pilot_start on or before it")
        return self

    @model_validator(mode="before")
    @classmethod
    def _legacy_hours(cls, data: Any) -> Any:
        # Configurations written before minute durations said `*_hours: N`.
        if isinstance(data, dict):
            for legacy, field in _LEGACY_HOURS.items():
                if legacy not in data:
                    continue
                if field in data:
                    raise ValueError(f"give {field} or {legacy}, not both")
                duration = _legacy_duration(legacy, data[legacy])
                if duration is not False:  # else left for its field to report
                    data = {k: v for k, v in data.items() if k != legacy}
                    data[field] = duration
        return data

    @model_validator(mode="after")
    def _reminder_before_escalation(self) -> Self:
        escalation = self.acceptance_sla + (self.escalate_after or timedelta(0))
        if self.remind_after and self.escalate_after and self.remind_after >= escalation:
            raise ValueError(
                "remind_after must come before the escalation (acceptance_sla + escalate_after)"
            )
        return self

    @model_validator(mode="before")
    @classmethod
    def _legacy_consent(cls, data: Any) -> Any:
        # Configurations written before consent rules said `consent_required: bool`.
        if isinstance(data, dict) and "consent_required" in data:
            if "consent" in data:
                raise ValueError("give consent or consent_required, not both")
            required = data["consent_required"]
            data = {k: v for k, v in data.items() if k != "consent_required"}
            data["consent"] = {"required": required}
        return data


_LEGACY_HOURS = {"acceptance_sla_hours": "acceptance_sla", "escalate_after_hours": "escalate_after"}
"""The whole-hour keys of older configurations, and the duration each now sets."""


def _legacy_duration(key: str, hours: object) -> timedelta | Literal[False] | None:
    """An older `*_hours` value as a duration (escalate_after_hours may be null: never);
    False when it is not a valid one."""
    if hours is None and key == "escalate_after_hours":
        return None
    if isinstance(hours, bool) or not isinstance(hours, int) or hours < 1:
        return False
    return timedelta(hours=hours)


class Flow(_Model):
    """One permitted direction of sharing within an agreement."""

    id: Slug
    from_orgs: list[Slug] = Field(min_length=1)
    to_orgs: list[Slug] = Field(min_length=1)
    purposes: list[Slug] = Field(min_length=1)
    art6_basis: str
    art9_condition: str | None = None
    items: dict[DataItem, Treatment]
    consent: ConsentRule = ConsentRule()
    retention_days: int = Field(default=365, ge=1)


class Prohibition(_Model):
    """A sharing that must never happen, whatever any flow says."""

    from_orgs: list[Slug]
    to_orgs: list[Slug]
    reason: str


class Agreement(_Model):
    """An information-sharing agreement version; a change is a new version."""

    id: Slug
    version: int = Field(ge=1)
    title: str
    status: AgreementStatus
    valid_from: date
    valid_to: date | None = None
    review_on: date | None = None
    parties: list[Slug] = Field(min_length=2)
    flows: list[Flow] = []
    prohibitions: list[Prohibition] = []


class Match(_Model):
    """Conditions on coded fields; all given conditions must hold."""

    reasons_any: list[Code] = []
    risks: list[Code] = []
    min_age: int | None = None
    max_age: int | None = None
    areas: list[AreaCode] = []
    source_kinds: list[OrgKind] = []
    consent: list[ConsentState] = []
    repeat: Repeat | None = None


class Repeat(_Model):
    """Referred at least `at_least` times (this one included) within `within_days`."""

    at_least: int = Field(ge=2)
    within_days: int = Field(ge=1)


class Rule(_Model):
    """An ordered routing rule selecting interventions."""

    id: Slug
    description: str
    when: Match = Match()
    select: Literal["first", "all", "best"] = "first"
    interventions: list[Slug] = Field(min_length=1)
    stop: bool = Field(default=True, description="Stop at this rule once it routed someone.")
    eligibility: EligibilityOverride | None = Field(
        default=None,
        description="Widen or narrow named eligibility criteria of its interventions (e.g. "
        "`risks: []` admits any risk); the decision records each adjustment.",
    )


class ConsentPolicy(_Model):
    """The partnership's choices about consent."""

    refused: RefusedConsent = Field(
        default="refuse",
        description="A referral whose consent was refused or withdrawn with no override ground: "
        "`refuse` (422 at intake) or `hold-for-hub` (accepted, held for the hub, never offered "
        "to a receiver automatically). A hub-triage flow's `consent.refused` decides for its "
        "senders.",
    )


class RoutingConfiguration(_Model):
    """Everything the router needs; its content hash versions every decision."""

    hub: Slug
    organisations: list[Organisation]
    interventions: list[Intervention]
    agreements: list[Agreement]
    rules: list[Rule]
    notify: Notify = Notify()
    consent: ConsentPolicy = ConsentPolicy()
    vocabularies: VocabularySettings = Field(
        default=VocabularySettings(),
        description="Changes to the packaged national vocabularies (reasons, risk levels, "
        "override grounds, decline and cancel reasons, outcomes): replace, add, remove.",
    )

    @model_validator(mode="after")
    def _references(self, info: ValidationInfo) -> Self:
        # The YAML loader checks references itself, to report each with its file and line.
        if not (info.context or {}).get("defer_reference_checks"):
            problems = reference_problems(self)
            if problems:
                raise ValueError("; ".join(p.message for p in problems))
        return self

    @cached_property
    def version(self) -> str:
        """Content hash of the configuration (stable across key order and file layout)."""
        # The resolved vocabularies too: a new national set changes the version.
        content = {"configuration": self.model_dump(mode="json"), "codes": self.codes.canonical()}
        canonical = json.dumps(content, sort_keys=True).encode()
        return hashlib.sha256(canonical).hexdigest()[:16]

    @cached_property
    def codes(self) -> Vocabularies:
        """The vocabularies in force: the national set with this partnership's changes."""
        return self.vocabularies.resolve()

    @cached_property
    def index(self) -> ConfigIndex:
        """Lookup tables for the engine, built once per configuration."""
        return ConfigIndex(self)

    def organisation(self, org_id: str) -> Organisation | None:
        """The organisation with this id, if any."""
        return self.index.organisations.get(org_id)

    def intervention(self, intervention_id: str) -> Intervention | None:
        """The intervention with this id, if any."""
        return self.index.interventions.get(intervention_id)


Match.model_rebuild()
