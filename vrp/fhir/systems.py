"""The code systems, identifier systems and codes of the FHIR door, in one place."""

from __future__ import annotations

from typing import Final

FHIR_VERSION: Final = "4.0.1"
"""The FHIR release BaRS and the UK Core profiles are built on (R4)."""

NHS_NUMBER: Final = "https://fhir.nhs.uk/Id/nhs-number"
ODS_CODE: Final = "https://fhir.nhs.uk/Id/ods-organization-code"
ODS_CODES: Final = frozenset({ODS_CODE, "https://fhir.nhs.uk/id/ods-organization-code"})
"""Some published NHS examples spell the ODS system with `/id/`: both are read."""

BARS_EVENTS: Final = "https://fhir.nhs.uk/CodeSystem/message-events-bars"
BARS_REASONS: Final = "https://fhir.nhs.uk/CodeSystem/message-reason-bars"
BARS_ERRORS: Final = "https://fhir.nhs.uk/CodeSystem/http-error-codes"
REQUEST: Final = "servicerequest-request"
RESPONSE: Final = "servicerequest-response"
NEW: Final = "new"
UPDATE: Final = "update"
CANCEL_REASONS: Final = frozenset({UPDATE, "delete"})
"""BaRS's cancellation guide says `update` in its prose and `delete` in a table: both are
read as a cancellation; we send `update`."""

MESSAGE_ID: Final = "urn:ietf:rfc:3986"
"""A Bundle's identifier system: its value is `urn:uuid:` and the Bundle's id."""
PROCESS_MESSAGE: Final = "http://hl7.org/fhir/OperationDefinition/MessageHeader-process-message"
CONSENT_SCOPE: Final = "http://terminology.hl7.org/CodeSystem/consentscope"
CONSENT_CATEGORY: Final = "http://loinc.org"
CONSENT_CATEGORY_CODE: Final = "59284-0"
ACT_CODE: Final = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ISSUE_TYPE: Final = "http://hl7.org/fhir/issue-type"


def fhir_base(public_url: str) -> str:
    """A deployment's FHIR base URL: what senders address and replies come from."""
    return f"{public_url}/fhir"


def code_system(base: str, name: str) -> str:
    """The canonical URL of one of this deployment's code systems (its vocabularies)."""
    return f"{base}/CodeSystem/{name}"


def identifier_system(base: str, name: str) -> str:
    """The system of one of this deployment's identifiers (referral references,
    organisations)."""
    return f"{base}/Id/{name}"


def extension_url(base: str, name: str) -> str:
    """The URL of one of this deployment's extensions (consent override details)."""
    return f"{base}/StructureDefinition/{name}"


def is_ours(system: str | None, name: str) -> bool:
    """Whether a coding's system is this service's code system `name`, whatever host the
    sender wrote it with (a deployment is reached under more than one address)."""
    return system is not None and system.endswith(f"/fhir/CodeSystem/{name}")


USE_CASES: Final = "use-case"
INTERVENTIONS: Final = "interventions"
REASONS: Final = "reasons"
RISK_LEVELS: Final = "risk-levels"
OVERRIDE_GROUNDS: Final = "override-grounds"
CANCEL_REASON_CODES: Final = "cancel-reasons"
RECIPIENT_STATES: Final = "response-states"
DECLINE_REASONS: Final = "decline-reasons"
OUTCOMES: Final = "outcomes"
OVERRIDE_JUSTIFICATION: Final = "consent-override-justification"
OVERRIDE_DECISION_MAKER: Final = "consent-override-decision-maker"
REFERRAL_REFERENCE: Final = "referral-reference"
ORGANISATION: Final = "organisation"
