"""What the router decided about a referral, and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from vrp.domain.vocabulary import DataItem


class Rejection(StrEnum):
    """Why a candidate intervention was not chosen."""

    UNKNOWN = "unknown-intervention"
    PAUSED = "paused"
    AGE = "ineligible-age"
    AREA = "ineligible-area"
    REASON = "ineligible-reason"
    RISK = "ineligible-risk"
    CAPACITY = "capacity-full"
    NO_AGREEMENT = "no-agreement-flow"
    PROHIBITED = "prohibited"
    AGREEMENT_DRAFT = "agreement-draft"
    AGREEMENT_SUSPENDED = "agreement-suspended"
    AGREEMENT_EXPIRED = "agreement-expired"
    AGREEMENT_NOT_YET_VALID = "agreement-not-yet-valid"
    CONSENT_REQUIRED = "consent-required-by-intervention"
    CONSENT_MISSING = "consent-missing-no-permitted-override"
    ITEM_NOT_PERMITTED = "required-item-not-permitted"
    NOT_SELECTED = "not-selected"
    SOURCE_UNKNOWN = "source-not-in-configuration"
    CONSENT_REFUSED = "consent-refused"
    """Consent refused, no override ground: held for the hub (`consent.refused`)."""
    CONSENT_WITHDRAWN = "consent-withdrawn"
    """Consent withdrawn, no override ground: held for the hub (`consent.refused`)."""


@dataclass(frozen=True, slots=True)
class Block:
    """One reason a candidate cannot be chosen.

    `about` names the personal fact the detail quotes (age, area, consent...), so a
    recipient not permitted that item gets the code alone; `banded` is the detail with
    the age as a band, for one permitted only the band."""

    code: Rejection
    detail: str = ""
    about: DataItem | None = None
    banded: str = ""

    def line(self) -> str:
        """`code (detail)`."""
        return f"{self.code} ({self.detail})" if self.detail else str(self.code)


@dataclass(frozen=True, slots=True)
class Candidate:
    """An intervention a matched rule put forward, and the verdict on it: every blocking
    reason in the engine's fixed order of checks (the first is `rejection`)."""

    intervention: str
    rule: str
    chosen: bool
    rejection: Rejection | None = None
    detail: str = ""
    blocks: tuple[Block, ...] = ()
    adjusted: tuple[str, ...] = ()
    """Eligibility criteria the rule widened or narrowed for this intervention."""

    def reasons_line(self) -> str:
        """`intervention: code (detail); code (detail)`, for held reasons."""
        blocks = self.blocks or ((Block(self.rejection, self.detail),) if self.rejection else ())
        return f"{self.intervention}: " + "; ".join(b.line() for b in blocks)


@dataclass(frozen=True, slots=True)
class Recipient:
    """One organisation receiving a minimised referral, and the lawful basis for it."""

    organisation: str
    intervention: str
    agreement_id: str
    agreement_version: int
    flow_id: str
    items: list[DataItem]
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Decision:
    """The router's explainable decision; recorded with the configuration version."""

    referral_id: str
    config_version: str
    outcome: Literal["routed", "held"]
    matched_rules: list[str]
    candidates: list[Candidate]
    recipients: list[Recipient]
    held_reasons: list[str]
    hub: Recipient | None = None
    hub_reasons: list[str] = field(default_factory=list)
    """The held reasons as the hub may read them: only what its triage flow permits."""

    def to_json(self, payloads: bool = True) -> dict[str, Any]:
        """Plain JSON-ready form; without payloads it holds no personal data."""

        def recipient(r: Recipient) -> dict[str, Any]:
            out: dict[str, Any] = {
                "organisation": r.organisation,
                "intervention": r.intervention,
                "agreement_id": r.agreement_id,
                "agreement_version": r.agreement_version,
                "flow_id": r.flow_id,
                "items": [str(i) for i in r.items],
            }
            if payloads:
                out["payload"] = r.payload
            return out

        return {
            "referral_id": self.referral_id,
            "config_version": self.config_version,
            "outcome": self.outcome,
            "matched_rules": list(self.matched_rules),
            "candidates": [
                {
                    "intervention": c.intervention,
                    "rule": c.rule,
                    "chosen": c.chosen,
                    "rejection": str(c.rejection) if c.rejection else None,
                    "detail": c.detail,
                    "blocks": [{"code": str(b.code), "detail": b.detail} for b in c.blocks],
                    "adjusted": list(c.adjusted),
                }
                for c in self.candidates
            ],
            "recipients": [recipient(r) for r in self.recipients],
            "held_reasons": list(self.held_reasons),
            "hub": recipient(self.hub) if self.hub is not None else None,
            "hub_reasons": list(self.hub_reasons),
        }

    def explain(self) -> str:
        """A readable account of the decision, for people."""
        lines = [
            f"referral {self.referral_id}: {self.outcome} (configuration {self.config_version})",
            "rules matched: " + (", ".join(self.matched_rules) or "none"),
        ]
        for c in self.candidates:
            if c.chosen:
                verdict = "chosen"
            elif len(c.blocks) > 1:
                verdict = f"rejected for {len(c.blocks)} reasons"
            else:
                verdict = f"rejected: {c.rejection} {c.detail}".rstrip()
            lines.append(f"  {c.intervention} (rule {c.rule}): {verdict}")
            if len(c.blocks) > 1:
                lines += [f"      - {b.line()}" for b in c.blocks]
            lines += [f"      eligibility adjusted by the rule: {a}" for a in c.adjusted]
        for r in self.recipients:
            lines.append(
                f"  -> {r.organisation} via {r.agreement_id} v{r.agreement_version} "
                f"flow {r.flow_id}; items: {', '.join(r.items)}"
            )
        lines += [f"  held: {reason}" for reason in self.held_reasons]
        if self.hub is not None:
            lines.append(
                f"  -> hub {self.hub.organisation} for triage via {self.hub.agreement_id} "
                f"v{self.hub.agreement_version}; items: {', '.join(self.hub.items) or 'none'}"
            )
        elif self.outcome == "held":
            lines.append("  -> hub notified with ids and reason codes only (no hub-triage flow)")
        if self.outcome == "held":
            lines += [f"  hub reads: {reason}" for reason in self.hub_reasons]
        return "\n".join(lines)
