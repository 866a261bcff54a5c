"""The referral a partner submits, validated field by field."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Self

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from vrp.domain.geography import normalise_postcode
from vrp.domain.identifiers import nhs_number_is_valid
from vrp.domain.vocabularies import NATIONAL_VOCABULARIES, Code, Vocabularies
from vrp.domain.vocabulary import ConsentState, Sex


def _nhs_number(value: str) -> str:
    digits = value.replace(" ", "").replace("-", "")
    if not nhs_number_is_valid(digits):
        raise ValueError("is not a valid NHS number (10 digits with a modulus-11 check digit)")
    return digits


def _postcode(value: str) -> str:
    normal = normalise_postcode(value)
    if normal is None:
        raise ValueError("is not a UK postcode in a recognised format")
    return normal


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _calendar_date(value: object) -> object:
    # JSON numbers would otherwise be read as Unix timestamps, and a date-time with a zero
    # time as its date; a date is YYYY-MM-DD and nothing else.
    if isinstance(value, int | float) or (isinstance(value, str) and not _DATE.fullmatch(value)):
        raise ValueError("must be a date written as YYYY-MM-DD")
    return value


NhsNumber = Annotated[str, AfterValidator(_nhs_number)]
CalendarDate = Annotated[date, BeforeValidator(_calendar_date)]
Postcode = Annotated[str, AfterValidator(_postcode)]
# Codes are checked against the vocabularies of the configuration in force (check_codes),
# which a partnership extends or replaces; the model checks only their shape.
ReasonCode = Code
OverrideGround = Code
LocalAuthority = Annotated[str, Field(pattern=r"^[ENSW][0-9]{8}$")]
Text = Annotated[str, Field(min_length=1, max_length=200)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Contact(_Model):
    """How to reach a person; at least one of phone or email."""

    phone: Annotated[str, Field(max_length=30, pattern=r"^\+?[0-9 ()-]{6,30}$")] | None = None
    email: Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] | None = (
        None
    )

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        if self.phone is None and self.email is None:
            raise ValueError("give at least one of phone or email")
        return self


class Referrer(_Model):
    """The professional making the referral."""

    name: Text
    role: Text
    contact: Contact


class Subject(_Model):
    """The person referred."""

    given_name: Text
    family_name: Text
    date_of_birth: CalendarDate
    nhs_number: NhsNumber | None = None
    postcode: Postcode
    local_authority: LocalAuthority | None = Field(
        default=None,
        description="ONS code of the person's local authority (e.g. E08000025); checked "
        "against the postcode's when both are known.",
    )
    contact: Contact | None = None
    sex: Sex | None = Field(
        default=None,
        description="Optional: the person's sex as recorded (female, male, indeterminate, "
        "not-known; see GET /v1/vocabularies, `sexes`). Shared only where an agreement "
        "permits `subject.sex`; counted for the partnership's needs assessment.",
    )


class ConsentOverride(_Model):
    """Why sharing goes ahead without consent, and who decided."""

    ground: OverrideGround
    legal_condition: Annotated[str, Field(min_length=1, max_length=300)]
    justification: Annotated[str, Field(min_length=1, max_length=2000)]
    decision_maker: Text


OVERRIDE_REQUIRED = (
    "consent.override is required when consent is not given "
    "(ground, legal_condition, justification, decision_maker)"
)
REFUSALS = frozenset({ConsentState.REFUSED, ConsentState.WITHDRAWN})
"""Consent states a partnership may choose to hold for the hub without an override."""


class Consent(_Model):
    """The person's consent to sharing, or a recorded override."""

    state: ConsentState
    recorded_on: CalendarDate | None = None
    override: ConsentOverride | None = None

    @model_validator(mode="after")
    def _override_when_not_given(self) -> Self:
        # Refused or withdrawn without an override is the configuration's call (check_consent).
        missing = self.state is not ConsentState.GIVEN and self.override is None
        if missing and self.state not in REFUSALS:
            raise ValueError(OVERRIDE_REQUIRED)
        return self

    @property
    def refused_without_override(self) -> bool:
        """Refused or withdrawn, and no override ground recorded."""
        return self.state in REFUSALS and self.override is None


class ReferralSubmission(_Model):
    """What a partner POSTs. The source organisation comes from credentials, never the body."""

    referrer: Referrer
    subject: Subject
    reasons: Annotated[list[ReasonCode], Field(min_length=1, max_length=12)]
    risk: Code = Field(
        description="A code from the risk-levels vocabulary of the configuration in force "
        "(nationally standard, medium or high; a partnership may add its own)."
    )
    consent: Consent
    summary: Annotated[str, Field(min_length=1, max_length=4000)]
    requested_intervention: Annotated[str, Field(max_length=100)] | None = None

    def check_dates(self, today: date) -> list[tuple[str, str]]:
        """Date problems relative to today, as (field path, message) pairs."""
        problems: list[tuple[str, str]] = []
        if self.subject.date_of_birth > today:
            problems.append(("subject.date_of_birth", "is in the future"))
        elif today.year - self.subject.date_of_birth.year > 120:
            problems.append(("subject.date_of_birth", "is more than 120 years ago"))
        if self.consent.recorded_on is not None and self.consent.recorded_on > today:
            problems.append(("consent.recorded_on", "is in the future"))
        return problems

    def check_consent(self, refused: str) -> list[tuple[str, str]]:
        """Consent refused or withdrawn without an override, where the sender's configuration
        says `refuse` (not `hold-for-hub`), as a (field path, message) pair."""
        if self.consent.refused_without_override and refused != "hold-for-hub":
            return [("consent", OVERRIDE_REQUIRED)]
        return []

    def check_codes(
        self, vocabularies: Vocabularies = NATIONAL_VOCABULARIES
    ) -> list[tuple[str, str]]:
        """Codes outside the vocabularies in force, as (field path, message) pairs."""
        problems = [
            (f"reasons.{n}", "is not a code in the 'reasons' vocabulary (see GET /v1/vocabularies)")
            for n, code in enumerate(self.reasons)
            if not vocabularies.has("reasons", code)
        ]
        if not vocabularies.has("risk_levels", self.risk):
            problems.append(("risk", "is not a code in the 'risk-levels' vocabulary"))
        override = self.consent.override
        if override is not None and not vocabularies.has("override_grounds", override.ground):
            problems.append(
                ("consent.override.ground", "is not a code in the 'override-grounds' vocabulary")
            )
        return problems


def age_on(born: date, today: date) -> int:
    """Whole years between born and today."""
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


class Referral(_Model):
    """A stored referral: the submission plus what intake established about it."""

    id: str
    source_org: str
    received_at: str
    local_authority: str | None
    submission: ReferralSubmission
