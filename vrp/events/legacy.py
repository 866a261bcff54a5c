"""The referral as the v1 events carried it: risk was one of the national levels only.

The v1 event types (received, reoffered, the offer command) are retired but still read from
the topics, and their released schemas stay documented; a partnership's own risk levels
travel in the v2 types."""

from __future__ import annotations

from vrp.domain.referral import Referral, ReferralSubmission
from vrp.domain.vocabulary import RiskLevel


class NationalRiskSubmission(ReferralSubmission):
    """A submission whose risk is a national level (standard, medium, high)."""

    risk: RiskLevel  # narrower than a code, as v1 was


class ReferralV1(Referral):
    """A stored referral as the v1 events carried it."""

    submission: NationalRiskSubmission
