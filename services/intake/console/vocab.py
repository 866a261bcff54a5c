"""The coded values forms offer and pages label, from the vocabularies in force."""

from __future__ import annotations

from vrp.domain.configuration import RoutingConfiguration

JUSTIFICATIONS: dict[str, str] = {
    "professional-judgement": "Hub coordinator's professional judgement of need and fit",
    "no-rule-matched": "No routing rule matched, but this intervention suits the person",
    "capacity-elsewhere": "The intervention chosen by the rules has no capacity",
    "declined-elsewhere": "Declined by the first service; this one can help",
    "referrer-request": "The referrer asked for this intervention",
}
"""Why a hub coordinator routed a referral by hand (recorded in the audit log)."""


def codes(config: RoutingConfiguration, name: str) -> dict[str, str]:
    """Code -> label for one vocabulary as /v1/vocabularies names it (the partnership's
    own codes, e.g. its decline reasons, included)."""
    return config.codes.by_api_name()[name]
