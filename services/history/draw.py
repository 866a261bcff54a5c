"""Draw years of fictional referrals, day by day, from the demo partnership's streams."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from services.history.people import Person, person
from services.history.places import Places
from services.history.streams import POPULATION, STREAMS, Stream, in_term, pick, poisson
from vrp.domain.referral import Referral, ReferralSubmission, age_on

DAYS = 728
"""Two years of history, ending at midnight, so that every evidence measure has the same
period a year before to compare with (retention reduces the older year's referrals, as it
would have, and their coded facts remain)."""
SCHOOL = "example-park-academy"
ROLES: dict[str, str] = {
    "uhb": "A&E safeguarding nurse",
    "uhcw": "Emergency department consultant",
    "rwt": "A&E youth worker",
    "wmp": "Police safeguarding officer",
    "wm-probation": "Probation officer",
    "example-road-surgery": "General practitioner",
    SCHOOL: "Designated safeguarding lead",
}
REFERRERS = ("Pat Example", "Chris Sample", "Lee Fictional", "Dana Placeholder", "Mo Demo")
SUMMARIES: dict[str, tuple[str, ...]] = {
    "a-and-e-violence": (
        "Fictional demo case: seen in A&E after an assault, treated and discharged.",
        "Fictional demo case: injured in a fight in the town centre late at night.",
        "Fictional demo case: wound treated in A&E; worried about retaliation.",
    ),
    "domestic-abuse": (
        "Fictional demo case: disclosed abuse by a partner during an appointment.",
        "Fictional demo case: attended after an incident at home; wants support.",
    ),
    "gp-wellbeing": ("Fictional demo case: asked for help with drinking and low mood.",),
    "police-weapons": ("Fictional demo case: found carrying a bladed article on a stop.",),
    "exploitation": (
        "Fictional demo case: signs of being used to carry drugs between towns.",
        "Fictional demo case: new older friends, unexplained money and missing days.",
    ),
    "school-exclusion": ("Fictional demo case: several fixed-term exclusions this term.",),
    "resettlement": ("Fictional demo case: released this month; no settled address yet.",),
}


@dataclass(frozen=True, slots=True)
class Drawn:
    """One fictional referral, as intake would have stored it, and the stream it came from."""

    referral: Referral
    stream: str
    received_at: datetime
    person: Person


def referral_id(rng: random.Random, at: datetime) -> uuid.UUID:
    """A time-ordered id (the layout of `identifiers.new_id`) at a past time, drawn from rng."""
    ms = int(at.timestamp() * 1000)
    rand = rng.getrandbits(80)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | (rand >> 68 & 0xFFF) << 64
    return uuid.UUID(int=value | 0b10 << 62 | rand & ((1 << 62) - 1))


def _day_weights(stream: Stream, days: list[date]) -> list[float]:
    weights = [stream.weight(d) for d in days]
    scale = stream.per_year * len(days) / 365 / (sum(weights) or 1.0)
    return [w * scale for w in weights]


def _age(rng: random.Random, stream: Stream) -> int:
    low, high, _ = rng.choices(stream.ages, [w for *_, w in stream.ages])[0]
    return rng.randint(low, high)


def _sex(rng: random.Random, stream: Stream) -> str:
    draw = rng.random()
    if draw < 0.01:
        return "not-known" if draw < 0.008 else "indeterminate"
    return "female" if rng.random() < stream.female else "male"


def _consent(rng: random.Random, stream: Stream, age: int, on: date) -> dict[str, Any]:
    if rng.random() >= stream.refused:
        return {
            "state": "given",
            "recorded_on": (on - timedelta(days=rng.randrange(3))).isoformat(),
        }
    ground = stream.override or ("safeguarding-child" if age < 18 else "prevent-serious-harm")
    return {
        "state": rng.choice(("refused", "not-sought")),
        "override": {
            "ground": ground,
            "legal_condition": "DPA 2018 Sch 1 para 18 (fictional demo record)",
            "justification": "Fictional demo justification: risk judged too high to wait.",
            "decision_maker": "Duty safeguarding lead (fictional)",
        },
    }


def _submission(
    rng: random.Random, stream: Stream, who: Person, org: str, on: date
) -> ReferralSubmission:
    reasons = rng.choices([r for r, _ in stream.reasons], [w for _, w in stream.reasons])[0]
    referrer = rng.choice(REFERRERS)
    handle = referrer.lower().replace(" ", ".")
    age = age_on(who.date_of_birth, on)
    subject: dict[str, Any] = {
        "given_name": who.given_name,
        "family_name": who.family_name,
        "date_of_birth": who.date_of_birth.isoformat(),
        "nhs_number": who.nhs_number,
        "postcode": who.postcode,
        "contact": {"phone": who.phone},
        "sex": who.sex,
    }
    return ReferralSubmission.model_validate(
        {
            "referrer": {
                "name": referrer,
                "role": ROLES[org],
                "contact": {"email": f"{handle}@{org}.example"},
            },
            "subject": subject,
            "reasons": list(reasons),
            "risk": pick(rng, stream.risks),
            "consent": _consent(rng, stream, age, on),
            "summary": rng.choice(SUMMARIES[stream.name]),
        }
    )


class Drawer:
    """Draws referrals stream by stream; some are about someone referred before."""

    def __init__(self, rng: random.Random, places: Places | None = None) -> None:
        self.rng = rng
        self.places = places or Places()
        self._seen: dict[str, list[Person]] = {}

    def _who(self, stream: Stream, on: date) -> Person:
        earlier = self._seen.setdefault(stream.name, [])
        if earlier and self.rng.random() < stream.repeat:
            return self.rng.choice(earlier[-200:])
        areas = [a for a in POPULATION if a in stream.areas]
        area = self.rng.choices(areas, [POPULATION[a] for a in areas])[0]
        home = self.places.draw(self.rng, area)
        who = person(self.rng, home, _age(self.rng, stream), on, _sex(self.rng, stream))
        earlier.append(who)
        return who

    def draw(self, stream: Stream, day: date) -> Drawn:
        """One referral of this stream on this day, at an hour typical of it."""
        rng = self.rng
        hour = int(pick(rng, tuple((str(h), w) for h, w in stream.hours)))
        at = datetime.combine(day, time(hour, rng.randrange(60), rng.randrange(60)), UTC)
        return self.about(stream, self._who(stream, day), at)

    def about(self, stream: Stream, who: Person, at: datetime) -> Drawn:
        """A referral of this stream about this person at that time."""
        rng, day = self.rng, at.date()
        org = stream.sources(rng, who.area)
        if org == SCHOOL and not in_term(day):
            org = "wmp"  # schools refer in term time; the police the rest of the year
        rid = referral_id(rng, at)
        referral = Referral(
            id=str(rid),
            source_org=org,
            received_at=at.isoformat(),
            local_authority=who.area,
            submission=_submission(rng, stream, who, org, day),
        )
        return Drawn(referral, stream.name, at, who)


def draw_year(
    rng: random.Random, end: datetime, days: int = DAYS, drawer: Drawer | None = None
) -> list[Drawn]:
    """Every referral of the `days` days before `end` (midnight UTC), oldest first."""
    first = end.date() - timedelta(days=days)
    calendar = [first + timedelta(days=n) for n in range(days)]
    drawer = drawer or Drawer(rng)
    out: list[Drawn] = []
    for stream in STREAMS:
        for day, mean in zip(calendar, _day_weights(stream, calendar), strict=True):
            out.extend(drawer.draw(stream, day) for _ in range(poisson(rng, mean)))
    return sorted(out, key=lambda d: (d.received_at, d.referral.id))
