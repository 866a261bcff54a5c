"""Coded vocabularies shared by partners, rules and agreements."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal


class RiskLevel(StrEnum):
    """Professional's risk assessment, SafeLives/MASH style RAG."""

    STANDARD = "standard"
    MEDIUM = "medium"
    HIGH = "high"


class ConsentState(StrEnum):
    """What the person said about sharing their information."""

    GIVEN = "given"
    REFUSED = "refused"
    NOT_SOUGHT = "not-sought"
    WITHDRAWN = "withdrawn"


class Sex(StrEnum):
    """The person's sex as the referrer records it (the NHS Data Dictionary's "person stated
    gender" codes, spelt as codes): needs assessment rates it against the ONS estimates."""

    FEMALE = "female"
    MALE = "male"
    INDETERMINATE = "indeterminate"
    NOT_KNOWN = "not-known"


SEXES: dict[str, str] = {
    Sex.FEMALE: "Female",
    Sex.MALE: "Male",
    Sex.INDETERMINATE: "Indeterminate (unable to be classified as either)",
    Sex.NOT_KNOWN: "Not known (not recorded)",
}
"""Each sex code's label; a fixed vocabulary (the ONS denominators are female and male)."""


class OrgKind(StrEnum):
    """Kinds of partner organisation."""

    NHS_TRUST = "nhs-trust"
    GP_PRACTICE = "gp-practice"
    POLICE = "police"
    PROBATION = "probation"
    LOCAL_AUTHORITY = "local-authority"
    SCHOOL = "school"
    YOUTH_JUSTICE = "youth-justice"
    FIRE = "fire"
    CHARITY = "charity"
    VRU_HUB = "vru-hub"


REASONS: dict[str, str] = {
    "assault-injury": "Assault-related injury seen in A&E",
    "knife-crime": "Involvement in knife crime (victim or perpetrator)",
    "weapon-carrying": "Known or suspected weapon carrying",
    "gang-association": "Association with gangs or organised crime groups",
    "criminal-exploitation": "Child criminal exploitation or county lines",
    "domestic-abuse": "Domestic abuse (victim)",
    "domestic-abuse-perpetrator": "Domestic abuse (perpetrator seeking help)",
    "school-exclusion-risk": "At risk of school exclusion",
    "prison-release": "Release from custody",
    "substance-misuse": "Drug or alcohol misuse linked to violence",
    "mental-health": "Mental health need linked to violence",
    "bereavement-by-violence": "Bereaved by violence",
}


OVERRIDE_GROUNDS: dict[str, str] = {
    "safeguarding-child": "Safeguarding a child at risk of significant harm",
    "safeguarding-adult": "Safeguarding an adult at risk",
    "prevent-serious-harm": "Preventing serious harm to the person or others",
    "prevent-detect-crime": "Prevention or detection of crime",
    "vital-interests": "Vital interests of the person",
}


class DataItem(StrEnum):
    """The items of a referral an agreement may permit a recipient to receive."""

    SUBJECT_NAME = "subject.name"
    SUBJECT_DATE_OF_BIRTH = "subject.date_of_birth"
    SUBJECT_NHS_NUMBER = "subject.nhs_number"
    SUBJECT_POSTCODE = "subject.postcode"
    SUBJECT_AREA = "subject.local_authority"
    SUBJECT_SEX = "subject.sex"
    SUBJECT_CONTACT = "subject.contact"
    """Phone and email together (kept for agreements written before the granular items)."""
    SUBJECT_PHONE = "subject.phone"
    SUBJECT_EMAIL = "subject.email"
    REFERRER_NAME = "referrer.name"
    REFERRER_ROLE = "referrer.role"
    REFERRER_CONTACT = "referrer.contact"
    """Phone and email together (kept for agreements written before the granular items)."""
    REFERRER_PHONE = "referrer.phone"
    REFERRER_EMAIL = "referrer.email"
    REASONS = "reasons"
    RISK = "risk"
    CONSENT = "consent"
    SUMMARY = "summary"


class Treatment(StrEnum):
    """How a permitted data item is transformed before it is shared."""

    CLEAR = "clear"
    OMIT = "omit"
    PSEUDONYMISE = "pseudonymise"
    AGE_BAND = "age-band"


class DeclineReason(StrEnum):
    """Why a receiving organisation declined a referral (FHIR Task 'rejected' reasons)."""

    NO_CAPACITY = "no-capacity"
    NOT_ELIGIBLE = "not-eligible"
    OUT_OF_AREA = "out-of-area"
    ALREADY_SUPPORTED = "already-supported"
    INSUFFICIENT_INFORMATION = "insufficient-information"
    RISK_BEYOND_SERVICE = "risk-beyond-service"
    REFERRED_ELSEWHERE = "referred-elsewhere"


DECLINE_REASONS: dict[str, str] = {
    DeclineReason.NO_CAPACITY: "The service has no capacity",
    DeclineReason.NOT_ELIGIBLE: "The person does not meet the service's eligibility criteria",
    DeclineReason.OUT_OF_AREA: "The person lives outside the service's area",
    DeclineReason.ALREADY_SUPPORTED: "The person is already supported by the service",
    DeclineReason.INSUFFICIENT_INFORMATION: "Not enough information to accept the referral",
    DeclineReason.RISK_BEYOND_SERVICE: "The risk is beyond what the service can safely manage",
    DeclineReason.REFERRED_ELSEWHERE: "A more suitable service was recommended",
}


class Outcome(StrEnum):
    """How a completed referral ended (closed-loop outcome)."""

    ENGAGED = "engaged"
    COULD_NOT_CONTACT = "could-not-contact"
    DECLINED_BY_PERSON = "declined-by-person"
    REFERRED_ELSEWHERE = "referred-elsewhere"
    MOVED_OUT_OF_AREA = "moved-out-of-area"
    NO_LONGER_NEEDED = "no-longer-needed"


OUTCOMES: dict[str, str] = {
    Outcome.ENGAGED: "The person engaged with the intervention",
    Outcome.COULD_NOT_CONTACT: "The person could not be contacted",
    Outcome.DECLINED_BY_PERSON: "The person declined the support offered",
    Outcome.REFERRED_ELSEWHERE: "The person was referred on to another service",
    Outcome.MOVED_OUT_OF_AREA: "The person moved out of the area",
    Outcome.NO_LONGER_NEEDED: "Support was no longer needed",
}


class CancelReason(StrEnum):
    """Why the originator withdrew a referral."""

    ENTERED_IN_ERROR = "entered-in-error"
    NO_LONGER_NEEDED = "no-longer-needed"
    CONSENT_WITHDRAWN = "consent-withdrawn"
    REFERRED_ELSEWHERE = "referred-elsewhere"
    DUPLICATE = "duplicate"


CANCEL_REASONS: dict[str, str] = {
    CancelReason.ENTERED_IN_ERROR: "The referral was made in error",
    CancelReason.NO_LONGER_NEEDED: "The referral is no longer needed",
    CancelReason.CONSENT_WITHDRAWN: "The person withdrew consent to the referral",
    CancelReason.REFERRED_ELSEWHERE: "The person was referred to another service instead",
    CancelReason.DUPLICATE: "The referral duplicates another one",
}


class AgreementStatus(StrEnum):
    """Lifecycle of an information-sharing agreement version."""

    DRAFT = "draft"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    EXPIRED = "expired"


Channel = Literal["email", "sms", "webhook"]
"""How an alert reaches a team: email (SMTP or GOV.UK Notify), SMS (Notify), signed webhook."""
UpdateChannel = Literal["email", "sms", "webhook", "fhir"]
"""How a referrer hears of its referrals: an alert channel, or `fhir`, a BaRS
`servicerequest-response` message to its registered FHIR endpoint (only for referrals it
sent through the FHIR door)."""
AlertKind = Literal["new-referral", "reminder", "escalation", "status", "delivery-failed"]
"""What an alert is about."""
