"""The console's Evidence area in headless Chromium, keyboard only: an analyst picks a
quarter, reads the needs assessment and an intervention's evaluation, and opens the
printable quarterly report, which prints to a PDF of a sensible length; a period nobody
asked for yet says its figures are being prepared and its link shows them once ready;
axe-core finds no fault with any page. Pictures go to var/screenshots/."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page

from testkit.browser import (
    SCREENSHOTS,
    Confined,
    accessible,
    confined,
    interactive,
    keyboard_sign_in,
    screenshot,
    tab_order,
)
from testkit.evidence import EvidenceRows
from testkit.runtime import Served, runtime_settings, serving
from testkit.smtp import SmtpServer
from vrp.domain.evidence.periods import partnership_areas
from vrp.domain.lifecycle import RecipientState

pytestmark = pytest.mark.browser
QUARTER = "2026-Q1"
NAVIGATORS = "navigators-birmingham"
OUTCOMES = ("engaged", "could-not-contact")
DECLINES = ("no-capacity", "not-eligible")


def _history(rows: EvidenceRows, areas: tuple[str, ...]) -> None:
    """Fictional coded facts for 2026 Q1 and 2025 Q1 in every local authority, with
    populations and deprivation deciles, and 40 offers to the Birmingham navigators that
    end every way an offer can, some people referred again."""
    for i, area in enumerate(areas):
        for year in (2025, 2026):
            for sex in ("female", "male"):
                for age in range(8, 31):
                    rows.population(area, year, sex, age, 400 + 20 * i)
        for decile in range(1, 11):
            rows.lsoa(f"E0{i}{decile:07d}", area, decile, 1500)
    k = 0
    for year, extra in ((2026, 2), (2025, 0)):
        for month in (1, 2, 3):
            for i, area in enumerate(areas):
                for n in range(6 + 2 * i + extra):
                    k += 1
                    at = datetime(year, month, 1 + n % 27, 9, tzinfo=UTC)
                    lsoa = f"E0{i}{1 + (k * 7) % 10:07d}"
                    sex = "female" if k % 2 else "male"
                    rows.referral(at, f"p{k}", age=8 + k % 23, sex=sex, area=area, lsoa=lsoa)
    birmingham = areas[0]
    for n in range(40):
        who = f"offered-{n}"
        at = datetime(2026, 1 + n % 3, 2 + n % 20, 10, tzinfo=UTC)
        rid = rows.referral(at, who, age=15, area=birmingham, lsoa="E000000001")
        end = n % 8
        closed = at + timedelta(days=30)
        if end <= 3:
            rows.offer(
                rid,
                NAVIGATORS,
                at,
                RecipientState.COMPLETED,
                accepted_at=at + timedelta(hours=3 + n % 5),
                first_contact_at=at + timedelta(days=1 + n % 4),
                closed_at=closed,
                outcome=OUTCOMES[n % 2],
            )
        elif end == 4:
            rows.offer(
                rid,
                NAVIGATORS,
                at,
                RecipientState.IN_PROGRESS,
                accepted_at=at + timedelta(hours=5),
                first_contact_at=at + timedelta(days=2),
            )
        elif end == 5:
            rows.offer(
                rid, NAVIGATORS, at, RecipientState.ACCEPTED, accepted_at=at + timedelta(hours=6)
            )
        elif end == 6:
            closed = at + timedelta(hours=8)
            rows.offer(
                rid,
                NAVIGATORS,
                at,
                RecipientState.DECLINED,
                closed_at=closed,
                reason=DECLINES[n % 2],
            )
        else:
            rows.offer(rid, NAVIGATORS, at, RecipientState.AWAITING)
        if (end <= 3 and n % 3 == 0) or (end >= 6 and n % 2 == 1):
            rows.referral(closed + timedelta(days=60), who, age=15, area=birmingham)


async def _pick(page: Page, control: str, label: str) -> None:
    """Choose an option of a select with the keyboard alone, then submit its form."""
    await page.evaluate("window.scrollTo(0, 0)")
    for _ in range(200):
        await page.keyboard.press("Tab")
        if await page.evaluate(f"document.activeElement.id === '{control}'"):
            break
    options = await page.locator(f"#{control} option").all_inner_texts()
    here = await page.locator(f"#{control}").input_value()
    values = await page.locator(f"#{control} option").evaluate_all("os => os.map(o => o.value)")
    steps = options.index(label) - values.index(here)
    for _ in range(abs(steps)):
        await page.keyboard.press("ArrowDown" if steps > 0 else "ArrowUp")
    await page.keyboard.press("Tab")  # to the form's button
    async with page.expect_navigation():
        await page.keyboard.press("Enter")


async def _follow(page: Page, name: str) -> None:
    """Tab to a link by its text and press Enter."""
    await page.evaluate("document.activeElement && document.activeElement.blur()")
    await page.evaluate("window.scrollTo(0, 0)")
    for _ in range(300):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement.textContent.trim()") == name:
            async with page.expect_navigation():
                await page.keyboard.press("Enter")
            return
    raise AssertionError(f"no link {name!r} reached with Tab")


@asynccontextmanager
async def _analyst(system: Served, browser: Browser) -> AsyncIterator[tuple[Confined, Page]]:
    """The fictional history written, and a page signed in as the analyst by keyboard."""
    rows = EvidenceRows()
    _history(rows, partnership_areas(system.runtime.config()))
    await rows.write(system.runtime.db)
    async with confined(browser, str(system.client.base_url)) as box:
        page = await box.context.new_page()
        await page.goto("/console/")
        await keyboard_sign_in(page, "wmvru.analyst")
        yield box, page


async def test_an_analyst_reads_the_evidence_and_prints_the_quarterly_report(
    system: Served, browser: Browser
) -> None:
    async with _analyst(system, browser) as (box, page):
        assert page.url.endswith("/console/evidence")
        await page.get_by_role("heading", name="Evidence", exact=True).wait_for()
        await _pick(page, "period", "2026 Q1 (1 Jan 2026 to 31 Mar 2026)")
        assert f"period={QUARTER}" in page.url
        assert "2026 Q1" in await page.locator("#period-label").inner_text()
        birmingham = page.locator("#table-area tbody tr", has_text="Birmingham")
        assert re.fullmatch(r"[\d,]+", (await birmingham.locator("td").first.inner_text()).strip())
        await accessible(page)
        await screenshot(page, "evidence")
        assert set(await interactive(page)) <= set(await tab_order(page, 300))

        await _follow(page, "A&E youth violence navigators, Birmingham and Solihull")
        await page.get_by_role("heading", level=1).wait_for()
        assert f"/console/evidence/interventions/{NAVIGATORS}" in page.url
        await _pick(page, "period", "2026 Q1 (1 Jan 2026 to 31 Mar 2026)")
        offered = page.locator("#table-funnel tbody tr", has_text="Offered")
        assert (await offered.locator("td").first.inner_text()).strip() == "40"
        assert "An observational comparison, not a trial" in await page.content()
        await accessible(page)
        await screenshot(page, "evidence-intervention")
        assert set(await interactive(page)) <= set(await tab_order(page, 300))

        await page.goto(f"/console/evidence?period={QUARTER}")
        await _follow(page, "The quarterly report for the executive group (printable)")
        assert f"quarter={QUARTER}" in page.url
        await page.get_by_role("heading", name="Quarterly evidence report").wait_for()
        await accessible(page)
        await screenshot(page, "evidence-report")
        await page.emulate_media(media="print")
        assert not await page.locator("header nav").is_visible()  # menus left off paper
        assert not await page.locator("form").first.is_visible()
        await screenshot(page, "evidence-report-print")
        pdf = await page.pdf(format="A4", print_background=True)
        (SCREENSHOTS / "evidence-report.pdf").write_bytes(pdf)
        pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
        print(f"the quarterly report prints on {pages} A4 pages ({len(pdf)} bytes)")
        assert pdf.startswith(b"%PDF") and 2 <= pages <= 40
        assert box.blocked == []


async def test_figures_nobody_asked_for_yet_are_being_prepared_and_the_link_shows_them(
    tmp_path: Path, smtp: SmtpServer, browser: Browser
) -> None:
    # As in production, figures are reused; a page waits no time at all for new ones.
    settings = runtime_settings(
        f"sqlite+aiosqlite:///{tmp_path}/vrp.db",
        smtp=smtp,
        console_evidence_fresh_seconds=900,
        console_evidence_wait_seconds=0,
    )
    async with serving(settings) as system, _analyst(system, browser) as (box, page):
        await page.goto(f"/console/evidence?period={QUARTER}")
        await page.get_by_role("heading", name="The figures are being prepared").wait_for()
        assert "2026 Q1" in await page.get_by_role("status").inner_text()
        await accessible(page)
        await screenshot(page, "evidence-preparing")
        for _ in range(50):
            await _follow(page, "Show the figures")
            if await page.get_by_role("heading", name="Evidence", exact=True).count():
                break
            await page.wait_for_timeout(200)
        else:
            raise AssertionError("the figures never showed")
        assert f"period={QUARTER}" in page.url
        assert "2026 Q1" in await page.locator("#period-label").inner_text()
        assert box.blocked == []
