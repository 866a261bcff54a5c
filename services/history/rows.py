"""Route each fictional referral with the real engine, live out its story, and turn both
into the rows intake, the router and the receivers would have written at the time."""

from __future__ import annotations

import heapq
import random
import uuid
from datetime import datetime, timedelta
from typing import Any

from services.history.draw import Drawn, referral_id
from services.history.lives import MARAC_PACE, PACE, OfferLife, Withdrawal, hub_decision, live
from services.intake.submission import request_hash
from vrp.domain.audit import CONSENT_OVERRIDE, DISCLOSURE, Entry
from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.decision import Decision, Recipient
from vrp.domain.engine import decide
from vrp.domain.facts import Facts
from vrp.domain.identifiers import reference
from vrp.domain.index import HUB_TRIAGE
from vrp.domain.lifecycle import RecipientState, ReferralState, referral_state
from vrp.domain.referral_facts import referral_facts
from vrp.domain.subjects import subject_pseudonym
from vrp.events.models import HeldForTriage, PartnerReferral
from vrp.store import audit
from vrp.store.history import IDEMPOTENCY_PREFIX, Rows

ROUTER = "service:router"
"""The audit actor of a disclosure, as the router records it."""


class HistoryRouter:
    """Decides referrals oldest first, as the router would have: each person's earlier
    referrals count towards repeat rules, and open offers towards capacity."""

    def __init__(
        self, config: RoutingConfiguration, key: bytes, rng: random.Random, end: datetime
    ) -> None:
        self.config = config
        self.key = key
        self.rng = rng
        self.end = end
        # Whole hours: the generator's pacing works in hours (at least one).
        self.sla = {
            i.id: max(1, round(i.acceptance_sla.total_seconds() / 3600))
            for i in config.interventions
        }
        self.pace = {
            i.id: MARAC_PACE if i.purpose == "marac" else PACE for i in config.interventions
        }
        self._priors: dict[str, list[Any]] = {}
        self._load: dict[str, int] = {}
        self._frees: list[tuple[datetime, str]] = []
        self.outcomes: dict[str, int] = {}

    def event_id(self, at: datetime) -> str:
        """A new event id at a past time (drawn, so the same seed gives the same ids)."""
        return str(referral_id(self.rng, at))

    def _release(self, now: datetime) -> None:
        """Places freed (declined, completed, withdrawn) before `now` are free again."""
        while self._frees and self._frees[0][0] <= now:
            _, intervention = heapq.heappop(self._frees)
            self._load[intervention] -= 1

    def add(self, rows: Rows, drawn: Drawn) -> list[OfferLife]:
        """Decide one referral and add every row its history made; its offers' stories."""
        referral, at = drawn.referral, drawn.received_at
        self._release(at)
        source = self.config.organisation(referral.source_org)
        assert source is not None  # drawn from the demo's own organisations
        subject = subject_pseudonym(self.key, referral)
        history = self._priors.setdefault(subject, [])
        facts = Facts.of(referral, source.kind, at.date(), tuple(sorted(history)), dict(self._load))
        decision = decide(facts, self.config, self.key, referral)
        history.append(at.date())
        self.outcomes[decision.outcome] = self.outcomes.get(decision.outcome, 0) + 1
        decided_at = at + timedelta(seconds=self.rng.uniform(0.2, 3.0))
        offers = [
            OfferLife(
                r.intervention,
                r.organisation,
                decided_at + timedelta(seconds=1),
                at + timedelta(hours=self.sla[r.intervention]),
            )
            for r in decision.recipients
        ]
        if offers:
            withdrawal = live(
                self.rng,
                offers,
                self.sla,
                self.pace,
                decided_at,
                self.end,
                drawn.person.reluctant,
            )
        else:
            withdrawal = hub_decision(self.rng, decided_at, self.end)
        for o in offers:
            self._load[o.intervention] = self._load.get(o.intervention, 0) + 1
            if o.freed_at is not None:
                heapq.heappush(self._frees, (o.freed_at, o.intervention))
        story = _Story(self, rows, drawn, decision, decided_at, subject)
        story.write(facts, offers, withdrawal)
        # The row intake would write (its builder), with the LSOA the packaged postcode
        # extract gives the person's postcode.
        written = referral_facts(drawn.referral, source.kind.value, drawn.received_at, self.key)
        rows.facts.append(written.row() | {"lsoa": drawn.person.lsoa})
        return offers


class _Story:
    """The rows of one referral's history."""

    def __init__(
        self,
        router: HistoryRouter,
        rows: Rows,
        drawn: Drawn,
        decision: Decision,
        decided_at: datetime,
        subject: str,
    ) -> None:
        self.router = router
        self.rows = rows
        self.referral = drawn.referral
        self.at = drawn.received_at
        self.decision = decision
        self.decided_at = decided_at
        self.subject = subject
        self.ref = reference(uuid.UUID(self.referral.id))

    def _timeline(
        self, kind: str, at: datetime, detail: dict[str, Any], event_id: str = ""
    ) -> None:
        self.rows.timeline.append(
            {
                "event_id": event_id or self.router.event_id(at),
                "referral_id": self.referral.id,
                "type": kind,
                "at": at,
                "detail": detail,
            }
        )

    def write(self, facts: Facts, offers: list[OfferLife], withdrawal: Withdrawal | None) -> None:
        """Every row of this referral, in the order the services would have written them."""
        r, d = self.referral, self.decision
        received_event = self.router.event_id(self.at)
        base = ReferralState.ROUTED if offers else ReferralState.HELD
        status = referral_state(base, [o.state for o in offers])
        if withdrawal is not None:
            status = ReferralState.CANCELLED
        changed = [self.decided_at, *(s.at for o in offers for s in o.steps)]
        changed += [withdrawal.at] if withdrawal else []
        self.rows.referrals.append(
            {
                "id": r.id,
                "reference": self.ref,
                "source_org": r.source_org,
                "idempotency_key": f"{IDEMPOTENCY_PREFIX}{r.id}",
                "request_hash": request_hash(r.submission),
                "status": status,
                "local_authority": r.local_authority,
                "body": r.model_dump(mode="json"),
                "created_at": self.at,
                "updated_at": max(changed),
            }
        )
        self._timeline("received", self.at, {}, received_event)
        override = r.submission.consent.override
        if override is not None:
            self._audit(
                Entry(
                    CONSENT_OVERRIDE,
                    f"org:{r.source_org}/key:demo-{r.source_org}",
                    r.id,
                    None,
                    {"ground": override.ground, "consent_state": r.submission.consent.state.value},
                ),
                self.at,
            )
        self._decision(facts, received_event)
        for o, recipient in zip(offers, d.recipients, strict=True):
            self._offer(o, recipient)
        if not offers:
            self._triage(withdrawal)
        if withdrawal is not None:
            detail = {"reason": withdrawal.reason}
            detail |= {"by": self.router.config.hub} if withdrawal.kind == "closed" else {}
            self._timeline(withdrawal.kind, withdrawal.at, detail)

    def _audit(self, entry: Entry, at: datetime) -> None:
        self.rows.audit.append(audit.pending_row(entry, at))

    def _decision(self, facts: Facts, received_event: str) -> None:
        d = self.decision
        self.rows.decisions.append(
            {
                "referral_id": self.referral.id,
                "event_id": received_event,
                "config_version": d.config_version,
                "outcome": d.outcome,
                "detail": d.to_json(payloads=False),
                "facts": facts.to_json(),
                "chosen": " ".join(x.intervention for x in d.recipients),
                "decided_at": self.decided_at,
            }
        )
        self.rows.subjects.append(
            {"pseudonym": self.subject, "referral_id": self.referral.id, "referred_at": self.at}
        )
        recipients = [
            {"organisation": x.organisation, "intervention": x.intervention} for x in d.recipients
        ]
        detail = {
            "recipients": recipients,
            "held_reasons": d.held_reasons,
            "config_version": d.config_version,
        }
        self._timeline(d.outcome, self.decided_at, detail)

    def _disclosed(self, event_id: str, r: Recipient) -> None:
        """The disclosure row and its audit record, as the router writes them."""
        items = [str(i) for i in r.items]
        self.rows.disclosures.append(
            {
                "event_id": event_id,
                "referral_id": self.referral.id,
                "organisation": r.organisation,
                "intervention": r.intervention,
                "agreement_id": r.agreement_id,
                "agreement_version": r.agreement_version,
                "flow_id": r.flow_id,
                "items": items,
                "config_version": self.decision.config_version,
                "disclosed_at": self.decided_at,
            }
        )
        detail = {
            "event_id": event_id,
            "organisation": r.organisation,
            "intervention": r.intervention,
            "agreement_id": r.agreement_id,
            "agreement_version": r.agreement_version,
            "flow_id": r.flow_id,
            "items": items,
            "config_version": self.decision.config_version,
        }
        self._audit(
            Entry(DISCLOSURE, ROUTER, self.referral.id, self.subject, detail), self.decided_at
        )

    def _copy(
        self, event_id: str, r: Recipient, kind: str, payload: dict[str, Any], o: OfferLife | None
    ) -> None:
        last = o.steps[-1] if o is not None and o.steps else None
        times: dict[str, datetime | None] = {
            "accepted_at": o.at_state(RecipientState.ACCEPTED) if o is not None else None,
            "first_contact_at": o.first_contact if o is not None else None,
            "closed_at": o.closed_at if o is not None else None,
        }
        received = o.delivered_at if o is not None else self.decided_at + timedelta(seconds=1)
        self.rows.copies.append(
            {
                "referral_id": self.referral.id,
                "intervention": r.intervention,
                "organisation": r.organisation,
                "reference": self.ref,
                "event_id": event_id,
                "payload": payload,
                "status": o.state if o is not None else "awaiting",
                "reason": last.code if last and last.state == "declined" else None,
                "outcome": last.code if last and last.state == "completed" else None,
                "received_at": received,
                "updated_at": last.at if last else received,
                "kind": kind,
                **times,
            }
        )
        detail = {"organisation": r.organisation, "intervention": r.intervention}
        self._timeline("delivered", self.decided_at, detail, event_id)

    def _offer(self, o: OfferLife, r: Recipient) -> None:
        event_id = self.router.event_id(self.decided_at)
        intervention = self.router.config.intervention(r.intervention)
        assert intervention is not None
        offer = PartnerReferral(
            referral_id=self.referral.id,
            reference=self.ref,
            intervention=r.intervention,
            intervention_title=intervention.title,
            from_organisation=self.referral.source_org,
            agreement_id=r.agreement_id,
            agreement_version=r.agreement_version,
            flow_id=r.flow_id,
            respond_by=o.respond_by,
            data=r.payload,
        )
        self._disclosed(event_id, r)
        self._copy(event_id, r, "offer", offer.model_dump(mode="json"), o)
        self.rows.routed.append(
            {
                "referral_id": self.referral.id,
                "intervention": r.intervention,
                "organisation": r.organisation,
                "status": o.state,
            }
        )
        for step in o.steps:
            if step.state == "cancelled":
                continue  # the referral's own 'cancelled' entry says so
            detail = {"organisation": r.organisation, "intervention": r.intervention}
            key = "reason" if step.state == "declined" else "outcome"
            detail |= {key: step.code} if step.code else {}
            self._timeline(str(step.state), step.at, detail)

    def _triage(self, withdrawal: Withdrawal | None) -> None:
        """The hub's copy of a held referral (what its hub-triage flow permits)."""
        d, config = self.decision, self.router.config
        hub = d.hub or Recipient(config.hub, HUB_TRIAGE, "", 0, "", [], {})
        event_id = self.router.event_id(self.decided_at)
        copy = HeldForTriage(
            referral_id=self.referral.id,
            reference=self.ref,
            from_organisation=self.referral.source_org,
            agreement_id=hub.agreement_id,
            agreement_version=hub.agreement_version,
            flow_id=hub.flow_id,
            received_at=self.at,
            data=hub.payload,
            held_reasons=d.hub_reasons,
        )
        if hub.items:
            self._disclosed(event_id, hub)
        self._copy(event_id, hub, "triage", copy.model_dump(mode="json"), None)
        if withdrawal is not None:
            self.rows.copies[-1] |= {"status": "cancelled", "updated_at": withdrawal.at}
