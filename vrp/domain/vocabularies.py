"""A partnership's coded vocabularies: the packaged national set, extended or replaced."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from vrp.domain.vocabulary import (
    CANCEL_REASONS,
    DECLINE_REASONS,
    OUTCOMES,
    OVERRIDE_GROUNDS,
    REASONS,
    RiskLevel,
)

Code = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
"""A code of one of the vocabularies (its shape; membership depends on the configuration)."""
Label = Annotated[str, Field(min_length=1, max_length=200)]

RISK_LABELS: dict[str, str] = {
    RiskLevel.STANDARD: "Standard risk",
    RiskLevel.MEDIUM: "Medium risk",
    RiskLevel.HIGH: "High risk",
}

NATIONAL: dict[str, dict[str, str]] = {
    "reasons": REASONS,
    "risk_levels": RISK_LABELS,
    "override_grounds": OVERRIDE_GROUNDS,
    "decline_reasons": DECLINE_REASONS,
    "cancel_reasons": CANCEL_REASONS,
    "outcomes": OUTCOMES,
}
"""The packaged national default set, by configuration key."""

API_NAMES: dict[str, str] = {k: k.replace("_", "-") for k in NATIONAL}
"""Configuration key -> the name /v1/vocabularies serves it under."""

Urgency = Literal["routine", "urgent", "immediate"]
"""How soon a referral at a risk level needs attention: what alerts say, and how the hub's
triage list orders held referrals."""
URGENCIES: tuple[Urgency, ...] = ("routine", "urgent", "immediate")

NATIONAL_URGENCY: dict[str, Urgency] = {
    RiskLevel.STANDARD: "routine",
    RiskLevel.MEDIUM: "urgent",
    RiskLevel.HIGH: "immediate",
}
"""The urgency of each national risk level; a partnership sets its own codes'."""


class VocabularyChange(BaseModel):
    """How a partnership changes one vocabulary: replace it whole, or add and remove codes
    (adding a code that exists relabels it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    replace: dict[Code, Label] | None = Field(
        default=None, description="The whole vocabulary; the national codes are dropped."
    )
    add: dict[Code, Label] = Field(default={}, description="Codes added (or relabelled).")
    remove: list[Code] = Field(default=[], description="National codes this partnership drops.")
    urgency: dict[Code, Urgency] = Field(
        default={},
        description="risk_levels only: each code's urgency (routine, urgent or immediate); "
        "required for a code the partnership adds, optional to change a national one's.",
    )


class VocabularySettings(BaseModel):
    """The `vocabularies` section: changes to the national default set, per vocabulary."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reasons: VocabularyChange = VocabularyChange()
    risk_levels: VocabularyChange = VocabularyChange()
    override_grounds: VocabularyChange = VocabularyChange()
    decline_reasons: VocabularyChange = VocabularyChange()
    cancel_reasons: VocabularyChange = VocabularyChange()
    outcomes: VocabularyChange = VocabularyChange()

    def resolve(self) -> Vocabularies:
        """The vocabularies in force: the national set with this partnership's changes."""
        out: dict[str, dict[str, str]] = {}
        for kind, national in NATIONAL.items():
            change: VocabularyChange = getattr(self, kind)
            codes = dict(national if change.replace is None else change.replace)
            codes.update(change.add)
            for code in change.remove:
                codes.pop(code, None)
            out[kind] = codes
        urgency = {
            code: self.risk_levels.urgency.get(code) or NATIONAL_URGENCY.get(code, "routine")
            for code in out["risk_levels"]
        }
        return Vocabularies(out, urgency)

    def removed(self, kind: str) -> set[str]:
        """National codes of this vocabulary that the partnership no longer has."""
        return set(NATIONAL[kind]) - set(self.resolve().codes[kind])


class Vocabularies:
    """Resolved vocabularies: for each kind, code -> label (read-only)."""

    def __init__(
        self, codes: Mapping[str, dict[str, str]], urgency: Mapping[str, Urgency] | None = None
    ) -> None:
        self.codes: dict[str, dict[str, str]] = {k: dict(v) for k, v in codes.items()}
        self.urgency: dict[str, Urgency] = dict(urgency or NATIONAL_URGENCY)
        """Risk level -> its urgency."""

    def urgency_of(self, risk: str) -> Urgency | None:
        """The urgency of a risk level in force (None: not a code in force, e.g. one a
        reload removed while its referral was in flight)."""
        return self.urgency.get(risk)

    def has(self, kind: str, code: str) -> bool:
        """True when the code is in that vocabulary."""
        return code in self.codes[kind]

    def by_api_name(self) -> dict[str, dict[str, str]]:
        """The vocabularies keyed as /v1/vocabularies names them."""
        return {API_NAMES[k]: dict(v) for k, v in self.codes.items()}

    def canonical(self) -> dict[str, dict[str, str]]:
        """A stable form for the configuration's content hash (urgencies included)."""
        out = {k: dict(sorted(v.items())) for k, v in sorted(self.codes.items())}
        out["risk_urgency"] = {k: str(v) for k, v in sorted(self.urgency.items())}
        return out


NATIONAL_VOCABULARIES = VocabularySettings().resolve()
