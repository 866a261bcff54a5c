"""Coded vocabularies shared by partners, rules and agreements."""

from __future__ import annotations

from enum import StrEnum


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
    SUBJECT_CONTACT = "subject.contact"
    REFERRER_NAME = "referrer.name"
    REFERRER_ROLE = "referrer.role"
    REFERRER_CONTACT = "referrer.contact"
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
