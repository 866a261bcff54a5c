"""The console's Evidence area over real HTTP on an embedded SQLite runtime: who may see it,
the needs assessment and an intervention's evaluation with small numbers suppressed (and
the rates, shares and intervals resting on them left blank), every table as CSV, the
printable quarterly report, and no identifier on any page or in any CSV."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from services.demo import demo_key
from services.intake.console.evidence_periods import chosen, last_complete_quarter, quarter
from testkit.console import signed_in
from testkit.evidence import BIRMINGHAM, COVENTRY, DUDLEY, EvidenceRows
from testkit.partner import bearer, submit, wait_status
from testkit.referrals import example
from testkit.runtime import Served, runtime_settings, serving, sqlite_url
from vrp.config_files import load_configuration
from vrp.domain.lifecycle import RecipientState
from vrp.settings import DEMO_CONFIG_DIR

THRESHOLD = 3
Q1 = "2026-Q1"
NAVIGATORS = "navigators-birmingham"
JAN = datetime(2026, 1, 12, 10, tzinfo=UTC)
# Distinctive details of referrals submitted alongside: none may reach an evidence page.
GIVEN, FAMILY, NHS, PHONE, POSTCODE = (
    "Zebedee",
    "Quillfeather",
    "9990001111",
    "07700 900987",
    "B10 0AA",
)


def _nhs(base: str) -> str:
    """`base` (9 digits) with its modulus 11 check digit (a number that is never issued)."""
    total = sum(int(d) * (10 - i) for i, d in enumerate(base))
    check = (11 - total % 11) % 11
    assert check != 10
    return base + str(check)


DISTINCT_NHS = _nhs("999000111")


class _Tables(HTMLParser):
    """Rows of every table with an id, as text, by the first cell."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, dict[str, list[str]]] = {}
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and dict(attrs).get("id"):
            self._table = dict(attrs)["id"]
            self.tables[self._table or ""] = {}
        elif tag == "tr" and self._table:
            self._row = []
        elif tag in ("th", "td") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("th", "td") and self._row is not None and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._table and self._row:
            self.tables[self._table][self._row[0]] = self._row[1:]
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def tables(html: str) -> dict[str, dict[str, list[str]]]:
    """Every table of a page by id, each row by its header cell."""
    parser = _Tables()
    parser.feed(html)
    return parser.tables


@dataclass
class Evidence:
    served: Served

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.served.client.base_url, timeout=30)


def _history(rows: EvidenceRows) -> None:
    """Birmingham 5, Coventry 1, Dudley 4 referrals in January 2026 (10 in all, aged 15);
    Birmingham 3 and Dudley 3 a year before. Birmingham's five were offered to the
    navigators: 3 completed, 1 declined, 1 never answered; one who completed and one who
    declined were referred again in April."""
    for area in (BIRMINGHAM, COVENTRY, DUDLEY):
        for year in (2025, 2026):
            for sex in ("female", "male"):
                rows.population(area, year, sex, 15, 1000)
                rows.population(area, year, sex, 30, 1000)
    rows.lsoa("E01000001", BIRMINGHAM, 1, 1000)
    rows.lsoa("E01000002", COVENTRY, 1, 1000)
    rows.lsoa("E01000010", DUDLEY, 10, 1000)
    lsoas = {BIRMINGHAM: "E01000001", COVENTRY: "E01000002", DUDLEY: "E01000010"}
    people = []
    for area, n in ((BIRMINGHAM, 5), (COVENTRY, 1), (DUDLEY, 4)):
        for k in range(n):
            who = f"{area}-{k}"
            rid = rows.referral(JAN + timedelta(hours=k), who, area=area, lsoa=lsoas[area])
            people.append((who, rid, area))
    for area, n in ((BIRMINGHAM, 3), (DUDLEY, 3)):
        for k in range(n):
            rows.referral(JAN.replace(year=2025) + timedelta(hours=k), f"old-{area}-{k}", area=area)
    offered = [p for p in people if p[2] == BIRMINGHAM]
    for _, rid, _ in offered[:3]:
        rows.offer(
            rid,
            NAVIGATORS,
            JAN,
            RecipientState.COMPLETED,
            accepted_at=JAN + timedelta(hours=2),
            first_contact_at=JAN + timedelta(days=1),
            closed_at=JAN + timedelta(days=20),
            outcome="engaged",
        )
    rows.offer(
        offered[3][1],
        NAVIGATORS,
        JAN,
        RecipientState.DECLINED,
        closed_at=JAN + timedelta(hours=3),
        reason="no-capacity",
    )
    rows.offer(offered[4][1], NAVIGATORS, JAN, RecipientState.AWAITING)
    april = datetime(2026, 4, 20, tzinfo=UTC)
    rows.referral(april, offered[0][0], area=BIRMINGHAM)
    rows.referral(april, offered[3][0], area=BIRMINGHAM)


@pytest.fixture(scope="module")
async def evidence(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Evidence]:
    folder: Path = tmp_path_factory.mktemp("evidence")
    settings = runtime_settings(
        sqlite_url(folder), mail_dir=folder / "mail", console_disclosure_threshold=THRESHOLD
    )
    async with serving(settings) as served:
        rows = EvidenceRows()
        _history(rows)
        await rows.write(served.runtime.db)
        uhb = bearer(demo_key("uhb"))
        for _ in range(2):
            body = example(
                subject__given_name=GIVEN,
                subject__family_name=FAMILY,
                subject__nhs_number=DISTINCT_NHS,
                subject__postcode=POSTCODE,
            )
            body["subject"]["contact"]["phone"] = PHONE
            accepted = await submit(served.client, uhb, body=body)
            await wait_status(
                served.client,
                accepted["status_url"],
                uhb,
                until=lambda s: s["status"] != "received",
            )
        yield Evidence(served)


async def _get(e: Evidence, username: str, url: str) -> httpx.Response:
    async with e.client() as client:
        await signed_in(client, username)
        return await client.get(url)


PAGES = (
    f"/console/evidence?period={Q1}",
    f"/console/evidence/interventions/{NAVIGATORS}?period={Q1}",
    f"/console/evidence/report?quarter={Q1}",
    f"/console/evidence/tables/area.csv?period={Q1}",
    f"/console/evidence/interventions/{NAVIGATORS}/tables/funnel.csv?period={Q1}",
)


async def test_analysts_and_the_ig_lead_see_the_evidence_and_a_team_member_does_not(
    evidence: Evidence,
) -> None:
    for url in PAGES:
        for who in ("wmvru.analyst", "ig.lead"):
            assert (await _get(evidence, who, url)).status_code == 200, (who, url)
        assert (await _get(evidence, "navigators.member", url)).status_code == 403, url
    anonymous = await evidence.served.client.get(PAGES[0])
    assert anonymous.status_code == 303 and "/console/sign-in" in anonymous.headers["location"]
    async with evidence.client() as client:
        assert await signed_in(client, "wmvru.analyst") == "/console/evidence"
        menu = (await client.get("/console/evidence")).text
        assert '<a href="/console/evidence">Evidence</a>' in menu


async def test_the_needs_assessment_suppresses_small_counts_and_blanks_their_rates(
    evidence: Evidence,
) -> None:
    r = await _get(evidence, "wmvru.analyst", PAGES[0])
    assert r.status_code == 200, r.text
    t = tables(r.text)
    areas = t["table-area"]
    # referrals, population, rate, interval, a year before, rate, change, change %
    assert areas["Birmingham"][:3] == ["5", "4,000", "125.0"]
    assert areas["Birmingham"][4:] == ["3", "75.0", "+2", "66.7%"]
    # Coventry's 1 is suppressed, and Dudley's 4 with it (else the total gives it away);
    # neither has a rate, an interval or a change.
    for area in ("Coventry", "Dudley"):
        assert areas[area][0] == "suppressed"
        assert areas[area][2] == areas[area][3] == areas[area][6] == "not shown"
    assert areas["Total"][0] == "10"
    assert t["table-age-band"]["14-17"][0] == "10"
    deciles = t["table-deprivation"]
    assert deciles["1 (most deprived)"][0] == "6" and deciles["10 (least deprived)"][0] == "4"
    # (6 / 2,000) / (4 / 1,000): decile 1 is Birmingham's and Coventry's neighbourhoods
    assert t["table-inequality"]["Rate ratio, decile 1 to decile 10"][0] == "0.75"
    page = r.text
    rule = "Counts above zero but below 3 are shown as suppressed"
    assert page.count(rule) >= len(t)  # under every table (and once above them)
    assert 'role="img"' in page and "<script" not in page
    assert f'href="/console/evidence/tables/area.csv?period={Q1}"' in page


async def test_an_intervention_s_evaluation_from_offer_to_rereferral(evidence: Evidence) -> None:
    r = await _get(evidence, "wmvru.analyst", PAGES[1])
    assert r.status_code == 200, r.text
    t = tables(r.text)
    funnel = t["table-funnel"]
    assert funnel["Offered"][:2] == ["5", "100.0%"]
    assert funnel["Accepted"][:2] == ["3", "60.0%"]
    assert funnel["Completed"][:2] == ["3", "60.0%"]
    declines = t["table-declines"]
    # one decline and one never answered: both suppressed, their sum (5 - 3) is no secret
    assert declines["The service has no capacity"] == ["suppressed"]
    assert declines["Not accepted"] == ["2"]
    assert t["table-outcomes"]["The person engaged with the intervention"] == ["3"]
    assert t["table-times"]["Offer to acceptance"] == ["2.0", "2.0"]
    assert t["table-times"]["Offer to first contact"] == ["24.0", "24.0"]
    six = t["table-rereferral-6m"]
    assert six["Completed the intervention"][0] == "3"
    assert six["Completed the intervention"][5] == "not shown"  # its 1 re-referred is hidden
    assert "An observational comparison, not a trial" in r.text


async def test_every_table_downloads_as_csv_with_suppression_applied(evidence: Evidence) -> None:
    async with evidence.client() as client:
        await signed_in(client, "wmvru.analyst")
        for page in PAGES[:2]:
            html = (await client.get(page)).text
            links = re.findall(r'href="([^"]+\.csv\?period=[^"]*)"', html)
            assert len(links) == len(tables(html)), page
            for link in links:
                r = await client.get(link.replace("&amp;", "&"))
                assert r.status_code == 200, link
                assert r.headers["content-type"].startswith("text/csv")
                assert "attachment" in r.headers["content-disposition"]
                assert next(iter(csv.reader(io.StringIO(r.text))))[:2] == ["code", "label"]
        area = (await client.get(f"/console/evidence/tables/area.csv?period={Q1}")).text
        rows = {row[0]: row for row in csv.reader(io.StringIO(area))}
        assert rows[BIRMINGHAM][2:5] == ["5", "4000", "125.0000"]
        assert rows[COVENTRY][2] == "suppressed" and rows[COVENTRY][4:7] == ["", "", ""]


async def test_the_quarterly_report_names_its_period_configuration_and_rule(
    evidence: Evidence,
) -> None:
    r = await _get(evidence, "ig.lead", PAGES[2])
    assert r.status_code == 200, r.text
    version = load_configuration(DEMO_CONFIG_DIR).version
    assert "2026 Q1 (1 Jan 2026 to 31 Mar 2026)" in r.text
    assert f'<code id="config-version">{version}</code>' in r.text
    assert "Counts above zero but below 3 are shown as suppressed" in r.text
    t = tables(r.text)
    assert t["table-needs-area"]["Birmingham"][0] == "5"
    assert t[f"table-{NAVIGATORS}-funnel"]["Offered"][0] == "5"
    # the current quarter by default is the last one that has ended
    default = await _get(evidence, "ig.lead", "/console/evidence/report")
    assert quarter(last_complete_quarter(date.today())).label in default.text


async def test_bad_periods_are_problems_naming_the_field(evidence: Evidence) -> None:
    for url in (
        "/console/evidence?period=2026-Q5",
        "/console/evidence/report?quarter=2026",
        f"/console/evidence/interventions/{NAVIGATORS}?period=pilot",  # not a pilot
    ):
        r = await _get(evidence, "wmvru.analyst", url)
        assert r.status_code == 422, url
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["errors"][0]["field"] in ("period", "quarter")
    for missing in ("/console/evidence/interventions/nope", "/console/evidence/tables/nope.csv"):
        assert (await _get(evidence, "wmvru.analyst", missing)).status_code == 404, missing


async def test_no_identifier_reaches_an_evidence_page_or_csv(evidence: Evidence) -> None:
    today = date.today()
    now = f"{today.year}-Q{(today.month - 1) // 3 + 1}"
    seen: list[str] = []
    async with evidence.client() as client:
        await signed_in(client, "wmvru.analyst")
        for period in (Q1, now):
            pages = [
                f"/console/evidence?period={period}",
                f"/console/evidence/interventions/{NAVIGATORS}?period={period}",
                f"/console/evidence/report?quarter={period}",
            ]
            for page in pages:
                r = await client.get(page)
                assert r.status_code == 200, page
                seen.append(r.text)
                for link in re.findall(r'href="([^"]+\.csv\?[^"]*)"', r.text):
                    seen.append((await client.get(link.replace("&amp;", "&"))).text)
    # the submitted referrals reached the evaluation (this quarter's offers)
    assert any("Offered" in s for s in seen)
    for text in seen:
        for detail in (
            GIVEN,
            FAMILY,
            DISTINCT_NHS,
            PHONE,
            PHONE.replace(" ", ""),
            POSTCODE,
            "2010-03-14",
        ):
            assert detail not in text


def test_the_period_picker_s_periods() -> None:
    config = load_configuration(DEMO_CONFIG_DIR)
    plain = config.interventions[0]
    today = date(2026, 5, 7)
    assert chosen(None, today, plain).code == "2026-Q1"  # the last complete quarter
    q4 = chosen("2025-Q4", today)
    assert (q4.span.start, q4.span.end) == (date(2025, 10, 1), date(2025, 12, 31))
    assert chosen("2025", today).span.days == 365
    piloted = plain.model_copy(update={"pilot_start": date(2026, 2, 1)})
    p = chosen(None, today, piloted)
    assert (p.code, p.span.start, p.span.end) == ("pilot", date(2026, 2, 1), today)
    assert "still running" in p.label
    with pytest.raises(ValueError):
        chosen("pilot", today, plain)
