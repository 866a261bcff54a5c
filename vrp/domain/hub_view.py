"""What the hub may read of a held referral's reasons: only what its triage flow permits."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from vrp.domain.assessment import lawful_flow
from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.decision import Block, Candidate
from vrp.domain.facts import Facts
from vrp.domain.index import HUB_TRIAGE
from vrp.domain.vocabulary import DataItem, Treatment


def _visible(b: Block, permitted: Mapping[DataItem, Treatment] | None) -> str:
    if permitted is None:
        return str(b.code)  # no hub-triage flow: ids and codes only
    if b.about is None:
        return b.line()
    treatment = permitted.get(b.about)
    if treatment is Treatment.CLEAR:
        return b.line()
    if treatment is Treatment.AGE_BAND and b.banded:
        return f"{b.code} ({b.banded})"
    return str(b.code)  # the fact the detail quotes is not the hub's to read


def hub_reasons(
    candidates: Iterable[Candidate], permitted: Mapping[DataItem, Treatment] | None
) -> list[str]:
    """Each candidate's blocking reasons, with details only where the hub-triage flow
    permits the fact they quote (ages as bands when it permits only the band)."""
    out: list[str] = []
    for c in candidates:
        blocks = c.blocks or ((Block(c.rejection),) if c.rejection else ())
        if blocks:
            out.append(f"{c.intervention}: " + "; ".join(_visible(b, permitted) for b in blocks))
    return out


def hub_permitted(f: Facts, config: RoutingConfiguration) -> Mapping[DataItem, Treatment] | None:
    """What the hub-triage flow from this referral's sender lets the hub read (None: there
    is no such flow, so the hub reads ids and codes only)."""
    idx = config.index
    v = lawful_flow(idx, f, idx.hub, HUB_TRIAGE, [])
    return None if v.lawful is None else v.lawful.flow.items


def for_the_hub(
    candidates: Iterable[Candidate], f: Facts, config: RoutingConfiguration
) -> list[str]:
    """A decision's blocking reasons as the hub may read them (e.g. a manual offer's)."""
    return hub_reasons(candidates, hub_permitted(f, config))
