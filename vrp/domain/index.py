"""A configuration compiled into lookup tables, so each decision is a few dict probes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from vrp.domain.minimise import plan
from vrp.domain.vocabulary import AgreementStatus, DataItem, Treatment

if TYPE_CHECKING:  # types only: the configuration builds its index from this module
    from vrp.domain.configuration import (
        Agreement,
        Flow,
        Intervention,
        Organisation,
        RoutingConfiguration,
    )

HUB_TRIAGE = "hub-triage"


@dataclass(frozen=True, slots=True)
class FlowRef:
    """A flow together with the agreement version it belongs to."""

    agreement: Agreement
    flow: Flow
    shared: frozenset[DataItem]
    plan: tuple[tuple[DataItem, Treatment], ...]
    items: list[DataItem]


def latest_agreements(config: RoutingConfiguration) -> list[Agreement]:
    """Only the newest version of each agreement counts; older versions are superseded."""
    newest: dict[str, Agreement] = {}
    for a in config.agreements:
        if a.id not in newest or a.version > newest[a.id].version:
            newest[a.id] = a
    return [newest[k] for k in sorted(newest)]


class ConfigIndex:
    """Lookups derived from one configuration version; immutable once built."""

    def __init__(self, config: RoutingConfiguration) -> None:
        self.config = config
        self.version = config.version
        self.hub = config.hub
        self.organisations: dict[str, Organisation] = {o.id: o for o in config.organisations}
        self.interventions: dict[str, Intervention] = {i.id: i for i in config.interventions}
        self.prohibited: dict[tuple[str, str], str] = {}
        # Verdicts that depend on a few coded facts only (see assessment.py), remembered:
        # most referrals share their sender, date and consent state.
        self.memo: dict[tuple[object, ...], object] = {}
        self.flows: dict[tuple[str, str, str], list[FlowRef]] = {}
        for a in latest_agreements(config):
            if a.status is not AgreementStatus.DRAFT:
                for p in a.prohibitions:
                    for src in p.from_orgs:
                        for dst in p.to_orgs:
                            self.prohibited.setdefault((src, dst), f"{a.id}: {p.reason}")
            for f in a.flows:
                disclosed = plan(f.items)
                ref = FlowRef(
                    a, f, frozenset(i for i, _ in disclosed), disclosed, [i for i, _ in disclosed]
                )
                for src in f.from_orgs:
                    for dst in f.to_orgs:
                        for purpose in f.purposes:
                            self.flows.setdefault((src, dst, purpose), []).append(ref)
        self.refused_consent: dict[str, str] = {
            o.id: self._refused_consent(o.id) for o in config.organisations
        }
        """Sender -> `refuse` or `hold-for-hub` (see `consent.refused`)."""

    def _refused_consent(self, sender: str) -> str:
        # A hub-triage flow from the sender that decides wins (refuse, if flows disagree);
        # else the partnership's choice.
        said = {
            ref.flow.consent.refused
            for ref in self.flows_for(sender, self.hub, HUB_TRIAGE)
            if ref.flow.consent.refused is not None
        }
        if said:
            return "refuse" if "refuse" in said else "hold-for-hub"
        return self.config.consent.refused

    def flows_for(self, source: str, target: str, purpose: str) -> list[FlowRef]:
        """Every flow (of the newest agreement versions) covering this sharing."""
        return self.flows.get((source, target, purpose), [])
