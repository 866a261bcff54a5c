"""Generated evidence for bench.evidence: referrals' coded facts with their offers (accepted,
first contact, completed or declined, outcomes), people referred again, populations and
deprivation deciles, in chunks of whole people so that a million never sit in memory.

Fictional throughout: seeded random draws over the demo configuration's codes."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.evidence.periods import partnership_areas

FACT_COLUMNS = (
    "referral_id",
    "referred_at",
    "month",
    "source_kind",
    "local_authority",
    "lsoa",
    "age",
    "sex",
    "reason",
    "reasons",
    "pseudonym",
)
OFFER_COLUMNS = (
    "referral_id",
    "intervention",
    "organisation",
    "reference",
    "event_id",
    "payload",
    "status",
    "reason",
    "outcome",
    "received_at",
    "updated_at",
    "accepted_at",
    "first_contact_at",
    "closed_at",
    "kind",
)
POPULATION_COLUMNS = ("local_authority", "year", "sex", "age", "population")
DEPRIVATION_COLUMNS = ("lsoa", "local_authority", "decile", "population")
LSOAS_PER_AREA = 60
SEXES = ("female", "male", "female", "male", "male", "indeterminate", "not-known", None)
SOURCES = ("nhs-trust", "police", "school", "local-authority", "probation", "gp-practice")
STATUSES = (
    ("completed", 40),
    ("declined", 15),
    ("in-progress", 10),
    ("accepted", 8),
    ("awaiting", 15),
    ("cancelled", 12),
)


@dataclass
class Chunk:
    """Rows of some whole people: their referrals' facts and those referrals' offers."""

    facts: list[tuple[object, ...]] = field(default_factory=list)
    offers: list[tuple[object, ...]] = field(default_factory=list)


class Generator:
    """Draws the rows from one seed; `end` is the last instant a referral may be made."""

    def __init__(self, config: RoutingConfiguration, end: datetime, days: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.end = end
        self.days = days
        self.areas = partnership_areas(config)
        self.lsoas = {a: [f"E01{i:03d}{a[-3:]}" for i in range(LSOAS_PER_AREA)] for a in self.areas}
        self.interventions = [(i.id, i.provider) for i in config.interventions]
        vocab = config.codes.by_api_name()
        self.reasons = [str(r) for r in vocab["reasons"]]
        self.declines = [str(r) for r in vocab["decline-reasons"]]
        self.outcomes = [str(o) for o in vocab["outcomes"]]
        self.statuses = [s for s, weight in STATUSES for _ in range(weight)]

    def chunks(self, referrals: int, size: int = 20_000) -> Iterator[Chunk]:
        """Chunks of about `size` referrals, `referrals` in all."""
        made = 0
        chunk = Chunk()
        while made < referrals:
            made += self._person(chunk, referrals - made)
            if len(chunk.facts) >= size:
                yield chunk
                chunk = Chunk()
        if chunk.facts:
            yield chunk

    def _person(self, chunk: Chunk, room: int) -> int:
        rng = self.rng
        pseudonym = f"{rng.getrandbits(128):032x}"
        area = rng.choice(self.areas) if rng.random() < 0.95 else None
        lsoa = rng.choice(self.lsoas[area]) if area and rng.random() < 0.9 else None
        age = rng.randint(8, 45) if rng.random() < 0.97 else None
        sex = rng.choice(SEXES)
        at = self.end - timedelta(seconds=rng.uniform(0, self.days * 86400))
        times = min(1 + (rng.random() < 0.25) + (rng.random() < 0.06), room)
        made = 0
        while made < times and at <= self.end:
            self._referral(chunk, pseudonym, at, area, lsoa, age, sex)
            made += 1
            at += timedelta(days=rng.uniform(1, 400))  # referred again, some time later
        return made

    def _referral(
        self,
        chunk: Chunk,
        pseudonym: str,
        at: datetime,
        area: str | None,
        lsoa: str | None,
        age: int | None,
        sex: str | None,
    ) -> None:
        rng = self.rng
        rid = _uuid(rng)
        reasons = [rng.choice(self.reasons)] if rng.random() < 0.7 else rng.sample(self.reasons, 2)
        chunk.facts.append(
            (
                rid,
                at,
                f"{at:%Y-%m}",
                rng.choice(SOURCES),
                area,
                lsoa,
                age,
                sex,
                reasons[0],
                " ".join(sorted(reasons)),
                pseudonym,
            )
        )
        if rng.random() < 0.1:
            return  # held or never routed: no offer
        offered = [rng.choice(self.interventions)]
        if rng.random() < 0.1:  # offered to a second intervention too
            offered = rng.sample(self.interventions, 2)
        for intervention, provider in offered:
            chunk.offers.append(self._offer(rid, intervention, provider, at))

    def _offer(
        self, rid: str, intervention: str, provider: str, at: datetime
    ) -> tuple[object, ...]:
        rng = self.rng
        offered = at + timedelta(minutes=rng.uniform(1, 60))
        status = self.statuses[int(rng.random() * len(self.statuses))]
        accepted = contact = closed = None
        reason = outcome = None
        if status in ("accepted", "in-progress", "completed"):
            accepted = offered + timedelta(hours=rng.expovariate(1 / 30))
            if status != "accepted" or rng.random() < 0.3:
                contact = accepted + timedelta(hours=rng.expovariate(1 / 72))
            if status == "completed":
                closed = (contact or accepted) + timedelta(days=rng.uniform(14, 120))
                outcome = rng.choice(self.outcomes)
        elif status == "declined":
            closed = offered + timedelta(hours=rng.expovariate(1 / 40))
            reason = rng.choice(self.declines)
        updated = max(t for t in (offered, accepted, contact, closed) if t is not None)
        return (
            rid,
            intervention,
            provider,
            f"VRP-{rng.getrandbits(40):010X}"[:16],
            _uuid(rng),
            "{}",
            status,
            reason,
            outcome,
            offered,
            updated,
            accepted,
            contact,
            closed,
            "offer",
        )

    def populations(self, years: range) -> list[tuple[object, ...]]:
        """Residents by area, year, sex and single year of age (90 = 90 and over)."""
        rng = self.rng
        return [
            (area, year, sex, age, rng.randint(2_000, 9_000) if age < 90 else 3_000)
            for area in self.areas
            for year in years
            for sex in ("female", "male")
            for age in range(91)
        ]

    def deprivation(self) -> list[tuple[object, ...]]:
        """Each LSOA's decile (every decile in every area) and population."""
        return [
            (lsoa, area, i % 10 + 1, self.rng.randint(1_200, 2_000))
            for area, lsoas in self.lsoas.items()
            for i, lsoa in enumerate(lsoas)
        ]


def _uuid(rng: random.Random) -> str:
    """A random UUID's text (version bits aside: only its uniqueness matters here)."""
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def end_of_data() -> datetime:
    """The generated history's last instant: the start of today (UTC)."""
    now = datetime.now(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)
