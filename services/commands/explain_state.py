"""The state `vrp rules explain` may decide with: places taken per intervention and the
person's earlier referrals, from the router's database or a file; or none, said so."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.referral import Referral
from vrp.domain.subjects import subject_pseudonym
from vrp.store.database import Database
from vrp.store.unit import reading

NO_STATE = (
    "state: none given, so capacity and repeat referrals were not considered "
    "(give --database URL or --state FILE)"
)


@dataclass(frozen=True)
class State:
    """What a decision depends on besides the referral, and where it came from."""

    load: dict[str, int] = field(default_factory=dict)
    prior_referrals: tuple[date, ...] = ()
    described: str = NO_STATE


class StateFile(BaseModel):
    """A `--state` file (JSON or YAML): open referrals per intervention, and the days this
    person was referred before."""

    model_config = ConfigDict(extra="forbid")

    load: dict[str, int] = Field(default={}, description="intervention -> places taken")
    prior_referrals: list[date] = Field(default=[], description="days of earlier referrals")


def _counted(s: State) -> str:
    return (
        f"{sum(s.load.values())} open referral(s) across {len(s.load)} intervention(s) with "
        f"a capacity; {len(s.prior_referrals)} earlier referral(s) of this person"
    )


def from_file(path: Path) -> State:
    """State written by hand (what-if), e.g. `{"load": {"marac-birmingham": 12}}`."""
    text = path.read_text(encoding="utf-8")
    data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    parsed = StateFile.model_validate(data or {})
    state = State(parsed.load, tuple(sorted(parsed.prior_referrals)))
    return State(state.load, state.prior_referrals, f"state: file {path} ({_counted(state)})")


async def from_database(
    db: Database, config: RoutingConfiguration, key: bytes, referral: Referral, today: date
) -> State:
    """Places taken now and this person's earlier referrals, from the router's tables (the
    person is found by the same keyed pseudonym as the router's: set VRP_PSEUDONYM_KEY)."""
    from vrp.store.routing_state import earlier_referrals, open_load, repeat_window

    async with reading(db) as unit:
        load = await open_load(unit, config)
        window = repeat_window(config)
        priors: list[date] = []
        if window:
            since = datetime.combine(today - timedelta(days=window + 1), time(), tzinfo=UTC)
            subject = subject_pseudonym(key, referral)
            found = await earlier_referrals(unit, {subject}, since)
            priors = [d for d in found.get(subject, []) if d <= today]
    state = State(load, tuple(sorted(priors)))
    # The URL as given, but never its password.
    where = db.engine.url.render_as_string(hide_password=True)
    return State(load, state.prior_referrals, f"state: database {where} ({_counted(state)})")


async def area_from_database(db: Database, postcode: str) -> str | None:
    """The postcode's local authority as intake would derive it from that database."""
    from vrp.store.geography import area_of

    async with reading(db) as unit:
        return await area_of(unit, postcode)
