"""What happened to each fictional referral after the router decided it: receivers'
responses (mostly in time, some late, some declined with a coded reason), work in progress
and completed with a coded outcome, originators' cancellations and the hub's closures of
held referrals."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.history.streams import Weights, pick
from vrp.domain.lifecycle import RecipientState

DECLINES: Weights = (
    ("already-supported", 0.18),
    ("insufficient-information", 0.16),
    ("no-capacity", 0.12),
    ("not-eligible", 0.14),
    ("referred-elsewhere", 0.14),
    ("risk-beyond-service", 0.13),
    ("out-of-area", 0.13),
)
OUTCOMES: Weights = (
    ("engaged", 0.55),
    ("could-not-contact", 0.14),
    ("declined-by-person", 0.12),
    ("referred-elsewhere", 0.08),
    ("no-longer-needed", 0.08),
    ("moved-out-of-area", 0.03),
)
CANCELS: Weights = (
    ("no-longer-needed", 0.35),
    ("referred-elsewhere", 0.25),
    ("duplicate", 0.2),
    ("entered-in-error", 0.1),
    ("consent-withdrawn", 0.1),
)
HUB_CLOSES: Weights = (
    ("referred-elsewhere", 0.5),
    ("no-longer-needed", 0.3),
    ("duplicate", 0.1),
    ("entered-in-error", 0.1),
)
ACCEPTS = 0.82
CONTACTED = 0.85
"""Share of accepted offers whose receiver reaches the person; only they can complete."""
RELUCTANT_ACCEPTS = 0.5
RELUCTANT_CONTACTED = 0.5
"""The same for someone referred again after not engaging: it often happens again."""
CANCELLED_BY_SENDER = 0.03


@dataclass(frozen=True, slots=True)
class Step:
    """One response or change, as the timeline records it."""

    at: datetime
    state: RecipientState
    code: str | None = None


@dataclass(slots=True)
class OfferLife:
    """One offer's story: its responses, oldest first, and when it stopped taking a place."""

    intervention: str
    organisation: str
    delivered_at: datetime
    respond_by: datetime
    steps: list[Step] = field(default_factory=list)
    first_contact: datetime | None = None
    """When the receiver first reached the person (None: not, or not yet)."""

    @property
    def state(self) -> RecipientState:
        """Where it stands now."""
        return self.steps[-1].state if self.steps else RecipientState.AWAITING

    def at_state(self, state: RecipientState) -> datetime | None:
        """When the offer first reached this state, if it did."""
        return next((s.at for s in self.steps if s.state == state), None)

    @property
    def closed_at(self) -> datetime | None:
        """When it was declined or completed."""
        done = (RecipientState.DECLINED, RecipientState.COMPLETED)
        return self.steps[-1].at if self.steps and self.state in done else None

    @property
    def freed_at(self) -> datetime | None:
        """When it stopped holding a place in the intervention's capacity."""
        done = (RecipientState.DECLINED, RecipientState.COMPLETED, RecipientState.CANCELLED)
        return self.steps[-1].at if self.steps and self.state in done else None


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """The referral withdrawn: by its sender ('cancelled') or closed by the hub ('closed')."""

    at: datetime
    kind: str
    reason: str


PACE = 0.3
"""A response's median delay, as a share of the time allowed: about one in eleven is late."""
MARAC_PACE = 0.45
"""MARAC coordinators take a referral to the next conference: about one in five is late."""


def _delay(rng: random.Random, sla_hours: int, pace: float) -> timedelta:
    hours = pace * sla_hours * math.exp(rng.gauss(0.0, 0.9))
    return timedelta(hours=hours)


def live(
    rng: random.Random,
    offers: list[OfferLife],
    sla: dict[str, int],
    pace: dict[str, float],
    decided_at: datetime,
    end: datetime,
    reluctant: bool = False,
) -> Withdrawal | None:
    """Fill in each offer's responses up to `end`; the sender's withdrawal, if it withdrew
    before anyone answered. A first response due after `end` is brought forward to it, so
    the history ends with every offer answered. A `reluctant` person (one who did not
    engage before) is less often accepted and reached."""
    accepts, contacted = (
        (RELUCTANT_ACCEPTS, RELUCTANT_CONTACTED) if reluctant else (ACCEPTS, CONTACTED)
    )
    first = {
        o.intervention: min(
            o.delivered_at + _delay(rng, sla[o.intervention], pace[o.intervention]),
            max(end, o.delivered_at + timedelta(minutes=1)),
        )
        for o in offers
    }
    if offers and rng.random() < CANCELLED_BY_SENDER:
        at = decided_at + (min(first.values()) - decided_at) * rng.uniform(0.2, 0.8)
        for o in offers:
            o.steps.append(Step(at, RecipientState.CANCELLED))
        return Withdrawal(at, "cancelled", pick(rng, CANCELS))
    for o in offers:
        at = first[o.intervention]
        if rng.random() >= accepts:
            o.steps.append(Step(at, RecipientState.DECLINED, pick(rng, DECLINES)))
            continue
        o.steps.append(Step(at, RecipientState.ACCEPTED))
        # First contact: most within a few days of acceptance, a long tail beyond.
        contact = at + timedelta(hours=min(24 * 30, 30 * math.exp(rng.gauss(0.0, 0.8))))
        if rng.random() >= contacted or contact > end:
            continue  # accepted, never reached (or not yet): it stays open
        o.first_contact = contact
        if rng.random() < 0.7:
            o.steps.append(Step(contact, RecipientState.IN_PROGRESS))
        done = contact + timedelta(days=rng.uniform(12, 120))
        if done <= end:
            o.steps.append(Step(done, RecipientState.COMPLETED, pick(rng, OUTCOMES)))
    return None


def hub_decision(rng: random.Random, decided_at: datetime, end: datetime) -> Withdrawal:
    """The hub triages every held referral within the day it allows (`vrp status` chases
    any held longer) and closes it with a coded reason; a few senders withdraw theirs
    first. Triage due after `end` is brought forward to it, as responses are."""
    due = max(end, decided_at + timedelta(minutes=1))
    if rng.random() < CANCELLED_BY_SENDER:
        at = min(decided_at + timedelta(hours=rng.uniform(0.2, 2)), due)
        return Withdrawal(at, "cancelled", pick(rng, CANCELS))
    at = min(decided_at + timedelta(hours=rng.uniform(1, 20)), due)
    return Withdrawal(at, "closed", pick(rng, HUB_CLOSES))
