"""What intake checks against the configuration in force before it accepts a referral:
a known sender, codes from the partnership's vocabularies, and the person's area."""

from __future__ import annotations

from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.errors import InvalidField, InvalidFields, UnknownOrganisation
from vrp.domain.referral import ReferralSubmission
from vrp.domain.vocabularies import API_NAMES
from vrp.store.geography import Areas


def check_sender(config: RoutingConfiguration, organisation: str) -> None:
    """Refuse a sender the configuration does not know (never accepted, then lost)."""
    if config.organisation(organisation) is None:
        raise UnknownOrganisation(organisation)


def check_consent(
    config: RoutingConfiguration | None, organisation: str, submission: ReferralSubmission
) -> None:
    """Consent refused or withdrawn without an override ground: refused (422, as without a
    configuration) unless the sender's configuration holds such referrals for the hub."""
    choice = "refuse" if config is None else config.index.refused_consent.get(organisation, "")
    problems = submission.check_consent(choice)
    if problems:
        raise InvalidFields(problems)


def check_codes(config: RoutingConfiguration, submission: ReferralSubmission) -> None:
    """Every code must be in the configuration's vocabularies."""
    problems = submission.check_codes(config.codes)
    if problems:
        raise InvalidFields(problems)


async def local_authority(areas: Areas, submission: ReferralSubmission) -> str | None:
    """The person's local authority: the postcode's, checked against the one the referral
    gives (a mismatch is refused, naming the field); the given one when the postcode is
    not in the directory; None when neither is known."""
    derived = await areas.area_of(submission.subject.postcode)
    given = submission.subject.local_authority
    if given is not None and derived is not None and given != derived:
        raise InvalidField(
            "subject.local_authority", "is not the local authority of subject.postcode"
        )
    return given or derived


def check_code(config: RoutingConfiguration, kind: str, field: str, code: str | None) -> None:
    """A response's or cancellation's code must be in that vocabulary of the configuration."""
    if code is not None and not config.codes.has(kind, code):
        raise InvalidField(field, f"is not a code in the '{API_NAMES[kind]}' vocabulary")
