"""Some people are referred again after an offer ends: fewer of those who completed the
intervention than of those who declined it or were never reached, so that the evaluation's
re-referral comparison has a difference to find (the demo's, not a finding)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, timedelta

from services.history.draw import Drawer, Drawn
from services.history.lives import OfferLife
from services.history.streams import STREAMS
from vrp.domain.lifecycle import RecipientState

AFTER_COMPLETING = 0.15
"""Share of people who completed an offer who are referred again within the year after."""
AFTER_NOT_ENGAGING = 0.4
"""Share of people who declined, or were never reached, who are referred again."""
SOON_DAYS = 110
"""Re-referrals come soon more often than late: a mean of this many days after the offer
ended (or was made), so about four in five fall within six months."""
WITHIN_DAYS = 360
"""And none later than this."""


def _index(offers: list[OfferLife]) -> tuple[datetime, float, bool] | None:
    """When the person's story with the offers ended, how likely a return is, and whether
    they did not engage; None while someone is still working with them."""
    completed = [o.closed_at for o in offers if o.state == RecipientState.COMPLETED]
    if completed:
        return min(c for c in completed if c is not None), AFTER_COMPLETING, False
    if any(o.first_contact is not None for o in offers):
        return None  # reached and still in progress: neither engaged nor not
    ended = [o.closed_at or o.delivered_at for o in offers]
    return (min(ended), AFTER_NOT_ENGAGING, True) if ended else None


def follow_up(
    rng: random.Random, drawer: Drawer, drawn: Drawn, offers: list[OfferLife], end: datetime
) -> Drawn | None:
    """The same person referred again by the same stream, if they are, before `end`."""
    index = _index(offers)
    if index is None or rng.random() >= index[1]:
        return None
    at = index[0] + timedelta(days=min(WITHIN_DAYS, 3 + rng.expovariate(1 / SOON_DAYS)))
    if at >= end:
        return None
    stream = next(s for s in STREAMS if s.name == drawn.stream)
    return drawer.about(stream, replace(drawn.person, reluctant=index[2]), at)
