"""A referral's history as sentences with names: decisions, deliveries, alerts sent (channel
and time, never an address), responses with their coded reasons' labels, escalations,
withdrawal, and who viewed it. `_history.html` shows it on any page."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from services.intake.console import names
from vrp.domain.configuration import RoutingConfiguration
from vrp.store import reads, referrals
from vrp.store.database import Database
from vrp.store.reads import Read
from vrp.store.unit import snapshot

CHANNELS = {"email": "by email", "sms": "by text message", "webhook": "to their system"}
ALERTS = {
    "new-referral": "New-referral alert",
    "reminder": "Reminder",
    "escalation": "Escalation alert",
    "status": "Status update",
    "delivery-failed": "Failed-delivery alert",
}
RESPONSES = ("accepted", "declined", "in-progress", "completed")
FIRST_CONTACT = "first-contact"  # services/intake/changes.py writes it
WITHDRAWN = {"cancelled": "Withdrawn by the referrer", "closed": "Closed by the hub"}


class Entry(Protocol):
    """A timeline entry: the store's, or the one the partner API shows the referrer."""

    @property
    def type(self) -> str:
        """The entry's kind (routed, alert-sent, accepted, ...)."""

    @property
    def at(self) -> datetime:
        """When it happened."""

    @property
    def detail(self) -> dict[str, Any]:
        """Ids and codes."""


@dataclass(frozen=True, slots=True)
class Happening:
    """One line of a referral's history: when, what kind of thing, and what, in words."""

    at: datetime
    kind: str  # decision, delivery, alert, response, escalation, withdrawal, problem, view
    text: str


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose history: `organisation` None for the whole referral (its referrer, the hub),
    else only what concerns that organisation; `views` whether reads are listed."""

    organisation: str | None = None
    views: bool = False

    def covers(self, org: str | None) -> bool:
        """Whether something about `org` belongs in this history."""
        return self.organisation is None or org == self.organisation


class _Words:
    def __init__(self, config: RoutingConfiguration) -> None:
        self.config = config

    def org(self, org: object) -> str:
        return names.organisation(self.config, str(org) if org else None)

    def at(self, detail: dict[str, Any]) -> str:
        """'<intervention> at <organisation>'."""
        title = names.intervention(self.config, detail.get("intervention"))
        return f"{title} at {self.org(detail.get('organisation'))}"


def _response(w: _Words, e: Entry) -> str:
    d = e.detail
    text = f"{names.state(e.type)} by {w.org(d.get('organisation'))}: "
    text += names.intervention(w.config, d.get("intervention"))
    if d.get("reason"):
        text += f". Reason: {names.label(w.config, 'decline-reasons', d['reason'])}"
    if d.get("outcome"):
        text += f". Outcome: {names.label(w.config, 'outcomes', d['outcome'])}"
    return text


def _first_contact(w: _Words, e: Entry) -> str:
    contact = e.detail.get("first_contact_at")
    when = (
        datetime.fromisoformat(contact).astimezone(UTC).strftime("%d %b %Y %H:%M UTC")
        if contact
        else "a time not given"
    )
    return f"First contact with the person on {when}, recorded by {w.at(e.detail)}"


def _withdrawn(w: _Words, e: Entry) -> str:
    code = str(e.detail.get("reason") or "")
    labels = names.label(w.config, "cancel-reasons", code)
    return f"{WITHDRAWN[e.type]}. Reason: {labels}" if code else WITHDRAWN[e.type]


def _entry(w: _Words, e: Entry, scope: Scope) -> list[Happening]:
    d, t = e.detail, e.type
    if t in ("routed", "held"):
        mine = [r for r in d.get("recipients") or [] if scope.covers(r.get("organisation"))]
        lines = [Happening(e.at, "decision", f"Routed to {w.at(r)}") for r in mine]
        if t == "held" and scope.organisation is None:
            lines.append(Happening(e.at, "decision", "Held for the hub's triage"))
        return lines
    if t in ("received", "manual-routing", "processing-failed") and scope.organisation:
        return []  # the referrer's and the hub's business, not a receiving team's
    if t == "received":
        return [Happening(e.at, "decision", "Referral received")]
    if t == "manual-routing":
        text = f"The hub asked to route it to {names.intervention(w.config, d.get('intervention'))}"
        return [Happening(e.at, "decision", text)]
    if t == "processing-failed":
        return [Happening(e.at, "problem", "An update could not be processed; the hub is told")]
    if not scope.covers(d.get("organisation")) and t not in WITHDRAWN:
        return []
    if t == "delivered":
        return [Happening(e.at, "delivery", f"Delivered to {w.at(d)}")]
    if t == "alert-sent":
        kind = ALERTS.get(str(d.get("kind")), "Alert")
        how = CHANNELS.get(str(d.get("channel")), f"by {d.get('channel')}")
        return [Happening(e.at, "alert", f"{kind} sent to {w.org(d.get('organisation'))} {how}")]
    if t in RESPONSES:
        return [Happening(e.at, "response", _response(w, e))]
    if t == FIRST_CONTACT:
        return [Happening(e.at, "response", _first_contact(w, e))]
    if t == "escalated":
        text = f"Not accepted in time: {w.at(d)}"
        if d.get("fallback"):
            text += f"; offered to {names.intervention(w.config, d['fallback'])} instead"
        return [Happening(e.at, "escalation", text)]
    if t in WITHDRAWN:
        return [Happening(e.at, "withdrawal", _withdrawn(w, e))]
    return [Happening(e.at, "other", names.state(t))]


def _view(w: _Words, r: Read, scope: Scope) -> Happening | None:
    org, _, who = r.actor.partition("/")
    org = org.removeprefix("org:")
    if not scope.covers(org):
        return None
    if who.startswith("user:"):
        return Happening(r.at, "view", f"Viewed by {who[5:]} ({w.org(org)})")
    return Happening(r.at, "view", f"Read through the API by {w.org(org)}")


def describe(
    config: RoutingConfiguration,
    entries: Iterable[Entry],
    views: Sequence[Read],
    scope: Scope,
) -> list[Happening]:
    """The history in the order things happened, within `scope`."""
    w = _Words(config)
    out = [h for e in entries for h in _entry(w, e, scope)]
    if scope.views:
        out += [h for r in views if (h := _view(w, r, scope)) is not None]
    return sorted(out, key=lambda h: h.at)


async def history(
    db: Database, config: RoutingConfiguration, referral_id: str, scope: Scope
) -> list[Happening]:
    """Read a referral's timeline (and its views, if the scope lists them) and describe it."""
    async with snapshot(db) as unit:
        entries = await referrals.timeline(unit, referral_id)
        views = await reads.of_referral(unit, referral_id) if scope.views else []
    return describe(config, entries, views, scope)
