"""The evidence pages' prepared figures (services/intake/console/evidence_results.py), on
each database: reused while fresh, shown while renewed once older, computed once however
many ask at once, kept prepared in the background; and over HTTP, a page whose figures
are not ready says they are being prepared (202) and links to itself until they are."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from services.intake.console.evidence_results import EvidenceResults, Prepared
from testkit.console import signed_in
from testkit.evidence import BIRMINGHAM, EvidenceRows
from testkit.runtime import runtime_settings, serving, sqlite_url
from vrp.config_files import load_configuration
from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.evidence.periods import Period
from vrp.domain.evidence.results import NeedsAssessment
from vrp.domain.lifecycle import RecipientState
from vrp.settings import DEMO_CONFIG_DIR
from vrp.store.database import Database

JAN = Period(date(2026, 1, 1), date(2026, 1, 31))
NAVIGATORS = "navigators-birmingham"


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 9, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def config() -> RoutingConfiguration:
    return load_configuration(DEMO_CONFIG_DIR)


async def _referred(db: Database, count: int) -> None:
    rows = EvidenceRows()
    for k in range(count):
        rows.referral(datetime(2026, 1, 10, tzinfo=UTC) + timedelta(hours=k), f"p-{k}")
    await rows.write(db)


def _total(prepared: Prepared[NeedsAssessment] | None) -> int:
    assert prepared is not None
    [everyone] = [t for t in prepared.value.trends if t.key == "trend-all"]
    return everyone.changes[0].current.count


async def _renewed(results: EvidenceResults, config: RoutingConfiguration, since: datetime) -> int:
    for _ in range(200):
        found = await results.needs(config, JAN)
        assert found is not None
        if found.at > since:
            return _total(found)
        await asyncio.sleep(0.05)
    raise AssertionError("the older figures were never renewed")


async def test_figures_are_reused_while_fresh_and_shown_while_renewed_once_older(
    db: Database, config: RoutingConfiguration
) -> None:
    clock = Clock()
    results = EvidenceResults(db, fresh_for=900, clock=clock)
    await _referred(db, 2)
    first = await results.needs(config, JAN)
    assert _total(first) == 2 and first is not None and first.at == clock.now
    await _referred(db, 1)
    clock.now += timedelta(minutes=14)
    again = await results.needs(config, JAN)
    assert again is first  # within 15 minutes: the same figures, saying when they were made
    clock.now += timedelta(minutes=2)
    stale = await results.needs(config, JAN)
    assert stale is first  # older: still shown at once, while new ones are computed
    assert await _renewed(results, config, first.at) == 3


async def test_many_asking_at_once_share_one_computation(
    db: Database, config: RoutingConfiguration
) -> None:
    results = EvidenceResults(db, fresh_for=900)
    await _referred(db, 3)
    answers = await asyncio.gather(*(results.needs(config, JAN) for _ in range(6)))
    assert all(a is answers[0] for a in answers) and _total(answers[0]) == 3


async def test_a_request_that_cannot_wait_leaves_the_figures_computing_for_the_next(
    db: Database, config: RoutingConfiguration
) -> None:
    results = EvidenceResults(db, fresh_for=900)
    await _referred(db, 4)
    assert await results.needs(config, JAN, wait=0) is None
    assert _total(await results.needs(config, JAN)) == 4


async def test_with_no_reuse_every_request_sees_the_latest_referrals(
    db: Database, config: RoutingConfiguration
) -> None:
    results = EvidenceResults(db, fresh_for=0)
    await _referred(db, 1)
    assert _total(await results.needs(config, JAN)) == 1
    await _referred(db, 1)
    assert _total(await results.needs(config, JAN)) == 2


async def test_the_periods_the_pages_open_on_are_kept_prepared(
    db: Database, config: RoutingConfiguration
) -> None:
    rows = EvidenceRows()
    rid = rows.referral(datetime(2026, 1, 12, tzinfo=UTC), "someone", area=BIRMINGHAM)
    rows.offer(rid, NAVIGATORS, datetime(2026, 1, 12, 1, tzinfo=UTC), RecipientState.AWAITING)
    await rows.write(db)
    results = EvidenceResults(db, fresh_for=3600)
    stopping = asyncio.Event()
    keeping = asyncio.create_task(
        results.keep_prepared(
            stopping, lambda: config, lambda today: [JAN], lambda c, today: [NAVIGATORS]
        )
    )
    try:
        for _ in range(400):
            ready = [
                await results.needs(config, JAN, wait=0),
                await results.evaluations(config, JAN, wait=0),
                await results.evaluations(config, None, NAVIGATORS, wait=0),
            ]
            if all(ready):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the opening figures were not prepared")
    finally:
        stopping.set()
        await keeping
    evaluations = await results.evaluations(config, JAN, wait=0)
    assert evaluations is not None
    [navigators] = [e for e in evaluations.value if e.intervention == NAVIGATORS]
    assert navigators.current.funnel.offered == 1


async def test_a_page_whose_figures_are_not_ready_says_so_and_links_to_itself(
    tmp_path: Path,
) -> None:
    settings = runtime_settings(
        sqlite_url(tmp_path),
        mail_dir=tmp_path / "mail",
        console_evidence_fresh_seconds=900,
        console_evidence_wait_seconds=0,
    )
    async with serving(settings) as served:
        await _referred(served.runtime.db, 2)
        await signed_in(served.client, "wmvru.analyst")
        address = "/console/evidence?period=2026-Q1"
        first = await served.client.get(address)  # nobody asked for 2026 Q1 before
        assert first.status_code == 202
        assert "The figures are being prepared" in first.text
        assert first.headers["Retry-After"] == "5"
        assert f'<a id="show-figures" href="{address}">' in first.text
        for _ in range(200):
            page = await served.client.get(address)
            if page.status_code == 200:
                break
            assert page.status_code == 202
            await asyncio.sleep(0.05)
        assert page.status_code == 200 and "Figures as at" in page.text
        # A download waits for its figures, however new the period.
        download = await served.client.get("/console/evidence/tables/area.csv?period=2025")
        assert download.status_code == 200
        assert download.headers["content-type"].startswith("text/csv")
