"""A referral as the hub sees it: whether it is the hub's business at all, what the hub was
alerted about, what came of its routing by hand, and its reasons in words.

The hub may open a referral when it is held or declined now, when the hub holds a triage
copy of it (it was held before), when the hub asked for it to be routed by hand or closed
it, or when the hub was alerted about it (an escalation, or an alert that could not be
delivered). Anything else is answered as if it did not exist. What the page shows of it is
what the hub-triage flow let the hub read (its triage copy), and ids, codes and times
otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.intake import triage
from services.intake.console import data
from services.intake.console.vocab import codes
from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.decision import Rejection
from vrp.store import hub_cases, offers, referrals
from vrp.store.hub_cases import Disabled, HubAlert
from vrp.store.offers import Copies
from vrp.store.referrals import Happened, Summary
from vrp.store.unit import Unit

REJECTIONS: dict[str, str] = {
    Rejection.UNKNOWN: "not an intervention in the configuration",
    Rejection.PAUSED: "paused",
    Rejection.AGE: "outside its age range",
    Rejection.AREA: "outside its area",
    Rejection.REASON: "does not take referrals for these reasons",
    Rejection.RISK: "does not take this risk level",
    Rejection.CAPACITY: "full (no places left)",
    Rejection.NO_AGREEMENT: "no agreement permits sharing with it",
    Rejection.PROHIBITED: "sharing with it is prohibited",
    Rejection.AGREEMENT_DRAFT: "its agreement is still a draft",
    Rejection.AGREEMENT_SUSPENDED: "its agreement is suspended",
    Rejection.AGREEMENT_EXPIRED: "its agreement has expired",
    Rejection.AGREEMENT_NOT_YET_VALID: "its agreement is not yet in force",
    Rejection.CONSENT_REQUIRED: "it needs the person's consent",
    Rejection.CONSENT_MISSING: "no consent, and no permitted override",
    Rejection.ITEM_NOT_PERMITTED: "an item it needs may not be shared with it",
    Rejection.NOT_SELECTED: "another intervention was chosen",
    Rejection.SOURCE_UNKNOWN: "the referring organisation is not in the configuration",
}
"""Each blocking reason's code in words, as the hub's pages say it."""
ROUTING = ("manual-routing", "routed", "held", "escalated", "closed")
"""The timeline entries the hub's page reads."""


def reason_text(line: str, config: RoutingConfiguration) -> str:
    """A held reason as the hub may read it (`intervention: code (detail); code`), with the
    intervention's title and each code in words."""
    head, sep, rest = line.partition(": ")
    if not sep:
        return line
    i = config.intervention(head)
    parts = []
    for block in rest.split("; "):
        code, _, detail = block.partition(" (")
        words = REJECTIONS.get(code)
        if words is None:
            parts.append(block)
            continue
        parts.append(f"{words} ({detail}" if detail else words)
    return f"{i.title if i else head}: " + "; ".join(parts)


def waited(since: datetime, now: datetime) -> str:
    """How long since, in words a person reads at a glance ("3 h", "2 days")."""
    minutes = max(0, int((now - since).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h"
    return f"{hours // 24} days"


@dataclass
class Case:
    """What the hub's pages show of one referral (ids, codes, times and permitted data)."""

    ref: Summary
    copies: Copies
    entries: dict[str, list[Happened]] = field(default_factory=dict)
    alerts: list[HubAlert] = field(default_factory=list)
    disabled: list[Disabled] = field(default_factory=list)

    def sees(self, hub: str) -> bool:
        """Whether this referral is the hub's business (see the module's docstring)."""
        return (
            self.ref.status in triage.TRIAGED
            or self.copies.triage is not None
            or bool(self.entries.get("manual-routing"))
            or any(e.detail.get("by") == hub for e in self.entries.get("closed", []))
            or any(a.organisation == hub and a.kind in hub_cases.ALERTED for a in self.alerts)
        )

    def awaiting(self) -> list[Any]:
        """Offers still awaiting the team's answer (the ones the hub can chase)."""
        return [o for o in self.copies.offers if o.status == "awaiting"]

    def requests(self, config: RoutingConfiguration) -> list[dict[str, Any]]:
        """Each routing by hand and the router's answer to it: routed, held again (with the
        reasons the hub may read), or not known yet."""
        out = []
        decided = self.entries.get("routed", []) + self.entries.get("held", [])
        for asked in self.entries.get("manual-routing", []):
            x = asked.detail.get("intervention", "")
            outcome, reasons = "waiting", []
            for e in sorted(decided, key=lambda e: e.at):
                if e.at < asked.at:
                    continue
                names = {r.get("intervention") for r in e.detail.get("recipients", [])}
                if e.type == "routed" and x in names:
                    outcome = "routed"
                    break
                held = e.detail.get("held_reasons") or []
                if e.type == "held" and held and str(held[0]).startswith(f"{x}: "):
                    outcome = "held"
                    # Only what the hub may read; older decisions carry the codes alone.
                    shown = e.detail.get("hub_reasons") or [codes_only(str(held[0]))]
                    reasons = [reason_text(str(r), config) for r in shown]
                    break
            if outcome == "waiting" and any(o.intervention == x for o in self.copies.offers):
                outcome = "routed"  # the team's copy arrived before the router's decision
            i = config.intervention(x)
            out.append(
                {
                    "intervention": x,
                    "title": i.title if i else x,
                    "at": asked.at,
                    "outcome": outcome,
                    "reasons": reasons,
                }
            )
        return out

    def events(self, config: RoutingConfiguration, hub: str) -> list[tuple[datetime, str]]:
        """What happened that the hub acts on: escalations, alerts that could not be
        delivered, chases; oldest first (a referral's full history is another page's)."""
        out = []
        for a in self.alerts:
            who = org_name(config, a.organisation)
            if a.organisation == hub and a.kind == "escalation":
                x = str(a.detail.get("intervention") or "")
                i = config.intervention(x)
                team = org_name(config, i.provider) if i else "the team"
                text = f"Escalated to the hub: {team} did not accept {_title(config, x)} in time"
            elif a.organisation == hub and a.kind == "delivery-failed":
                text = "An alert could not be delivered, and the hub was alerted"
            elif a.kind == "reminder" and a.detail.get("status") == "chased":
                text = f"The hub chased {who} ({a.channel}): {a.status}"
            elif a.status == "failed":
                text = f"An alert to {who} by {a.channel} failed for good: {a.last_error or ''}"
            else:
                continue
            out.append((a.created_at, text))
        return sorted(out, key=lambda e: e[0])


def codes_only(line: str) -> str:
    """A held reason with its details dropped (they may quote what the hub may not read)."""
    head, _, rest = line.partition(": ")
    codes = [b.partition(" (")[0] for b in rest.split("; ")]
    return f"{head}: " + "; ".join(c for c in codes if c in REJECTIONS)


def org_name(config: RoutingConfiguration, org_id: str) -> str:
    """An organisation's name (its id when the configuration no longer has it)."""
    org = config.organisation(org_id)
    return org.name if org else org_id


async def cases(unit: Unit, rows: list[Summary]) -> list[Case]:
    """The hub's view of these referrals (a handful of statements for all)."""
    ids = [r.id for r in rows]
    copies = await offers.for_hub(unit, ids)
    entries = {kind: await referrals.of_kind(unit, ids, kind) for kind in ROUTING}
    alerts = await hub_cases.alerts_of(unit, ids)
    out = []
    for r in rows:
        case = Case(r, copies[r.id], {k: v[r.id] for k, v in entries.items()}, alerts[r.id])
        out.append(case)
    return out


async def case(unit: Unit, ref: Summary) -> Case:
    """One referral's view, with the disabled webhooks of the teams it was offered to."""
    found = (await cases(unit, [ref]))[0]
    teams = {o.organisation for o in found.copies.offers}
    teams |= {a.organisation for a in found.alerts if a.channel == "webhook"}
    found.disabled = await hub_cases.disabled_of(unit, teams)
    return found


def summary(c: Case, config: RoutingConfiguration, now: datetime) -> dict[str, Any]:
    """What the triage list and the referral's page show of one case."""
    payload = (c.copies.triage.payload if c.copies.triage else None) or {}
    decline_words = codes(config, "decline-reasons")
    hub = config.hub
    requests = c.requests(config)
    return {
        "referral_id": c.ref.id,
        "reference": c.ref.reference,
        "status": c.ref.status,
        "source": org_name(config, c.ref.source_org),
        "received_at": c.ref.created_at,
        "waited": waited(c.ref.created_at, now),
        "reasons": [reason_text(r, config) for r in payload.get("held_reasons") or []],
        "hub_data": data.rows(payload.get("data") or {}, codes(config, "reasons")),
        "offers": [
            {
                "intervention": o.intervention,
                "title": _title(config, o.intervention),
                "organisation": org_name(config, o.organisation),
                "status": o.status,
                "reason": decline_words.get(o.reason or "", o.reason),
            }
            for o in c.copies.offers
        ],
        "requests": requests,
        "pending": [r["title"] for r in requests if r["outcome"] == "waiting"],
        "events": c.events(config, hub),
        "escalated": any(a.organisation == hub and a.kind == "escalation" for a in c.alerts),
        "undelivered": any(a.organisation == hub and a.kind == "delivery-failed" for a in c.alerts),
        "awaiting": [
            {
                "intervention": o.intervention,
                "title": _title(config, o.intervention),
                "organisation": org_name(config, o.organisation),
            }
            for o in c.awaiting()
        ],
        "disabled": [
            {
                "organisation": d.organisation,
                "name": org_name(config, d.organisation),
                "since": d.disabled_at,
            }
            for d in c.disabled
        ],
    }


def _title(config: RoutingConfiguration, intervention: str) -> str:
    i = config.intervention(intervention)
    return i.title if i else intervention
