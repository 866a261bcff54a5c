"""A partnership's coded vocabularies: the packaged national set, extended or replaced."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

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

FIXED_CODES = frozenset({"risk_levels"})
"""Vocabularies whose codes the program relies on (alert urgency, rule matching): a
partnership may relabel them but not add or remove codes."""


class VocabularyChange(BaseModel):
    """How a partnership changes one vocabulary: replace it whole, or add and remove codes
    (adding a code that exists relabels it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    replace: dict[Code, Label] | None = Field(
        default=None, description="The whole vocabulary; the national codes are dropped."
    )
    add: dict[Code, Label] = Field(default={}, description="Codes added (or relabelled).")
    remove: list[Code] = Field(default=[], description="National codes this partnership drops.")


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
        return Vocabularies(out)

    def removed(self, kind: str) -> set[str]:
        """National codes of this vocabulary that the partnership no longer has."""
        return set(NATIONAL[kind]) - set(self.resolve().codes[kind])


class Vocabularies:
    """Resolved vocabularies: for each kind, code -> label (read-only)."""

    def __init__(self, codes: Mapping[str, dict[str, str]]) -> None:
        self.codes: dict[str, dict[str, str]] = {k: dict(v) for k, v in codes.items()}

    def has(self, kind: str, code: str) -> bool:
        """True when the code is in that vocabulary."""
        return code in self.codes[kind]

    def by_api_name(self) -> dict[str, dict[str, str]]:
        """The vocabularies keyed as /v1/vocabularies names them."""
        return {API_NAMES[k]: dict(v) for k, v in self.codes.items()}

    def canonical(self) -> dict[str, dict[str, str]]:
        """A stable form for the configuration's content hash."""
        return {k: dict(sorted(v.items())) for k, v in sorted(self.codes.items())}


NATIONAL_VOCABULARIES = VocabularySettings().resolve()
