"""The console's dashboard and directory over real HTTP on an embedded SQLite runtime:
aggregate counts with small ones suppressed, who may see them, and the IG lead's view of
what was disclosed under each agreement flow."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.demo import demo_key
from services.intake.console.dashboard import expiring
from services.intake.console.directory import standing
from services.intake.console.figures import (
    OfferFacts,
    acceptance,
    held_codes,
    iso_week,
    week_label,
)
from testkit.partner import bearer, inbox_entry, respond, submit, wait_status
from testkit.referrals import example
from testkit.runtime import Served, runtime_settings, serving, sqlite_url
from vrp.config_files import load_configuration
from vrp.domain.evidence.bands import band
from vrp.domain.people import Role
from vrp.domain.vocabulary import REASONS
from vrp.settings import DEMO_CONFIG_DIR
from vrp.store import accounts
from vrp.store.unit import unit_of_work

PASSWORD = "correct horse battery staple"
THRESHOLD = 3
# Distinctive details that must never reach an aggregate page.
GIVEN, FAMILY, SUMMARY = "Zebedee", "Quillfeather", "Unmistakable summary text"
AREAS = {"B10 0AA": 4, "DY1 1AA": 3, "CV1 1AA": 1}  # Birmingham, Dudley, Coventry


class _Tables(HTMLParser):
    """Rows of every table with an id: (row header, the cells after it) as text."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and dict(attrs).get("id"):
            self._table = dict(attrs)["id"]
            self.tables[self._table or ""] = []
        elif tag == "tr" and self._table:
            self._row = []
        elif tag in ("th", "td") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("th", "td") and self._row is not None and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._table and self._row is not None:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def table(html: str, table_id: str) -> dict[str, list[str]]:
    """A table's body and footer rows by their header cell."""
    parser = _Tables()
    parser.feed(html)
    rows = parser.tables[table_id]
    return {row[0]: row[1:] for row in rows[1:]}


@dataclass
class Console:
    served: Served
    hub: str
    referrals: list[dict[str, Any]]

    @asynccontextmanager
    async def signed_in(self, username: str) -> AsyncIterator[httpx.AsyncClient]:
        """A browser-like client signed in as `username` (sign-in form, its CSRF token)."""
        base = str(self.served.client.base_url)
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            form = await client.get("/console/sign-in")
            found = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
            assert form.status_code == 200 and found and client.cookies.get("vrp_signin")
            r = await client.post(
                "/console/sign-in",
                data={"username": username, "password": PASSWORD, "csrf_token": found[1]},
            )
            assert r.status_code == 303, r.text
            assert client.cookies.get("vrp_session")
            yield client


@pytest.fixture(scope="module")
async def console(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Console]:
    folder: Path = tmp_path_factory.mktemp("console")
    settings = runtime_settings(
        sqlite_url(folder), mail_dir=folder / "mail", console_disclosure_threshold=THRESHOLD
    )
    async with serving(settings) as served:
        hub = served.runtime.config().hub
        now = datetime.now(UTC)
        people = [
            ("member", "navigators", Role.TEAM_MEMBER),
            ("lead", "navigators", Role.TEAM_LEAD),
            ("ig", hub, Role.IG_LEAD),
        ]
        async with unit_of_work(served.runtime.db) as unit:
            for username, org, role in people:
                await accounts.add(unit, username, username.title(), org, role, PASSWORD, now)
        uhb = bearer(demo_key("uhb"))
        done = []
        for postcode, n in AREAS.items():
            for _ in range(n):
                body = example(
                    subject__given_name=GIVEN,
                    subject__family_name=FAMILY,
                    subject__postcode=postcode,
                    summary=SUMMARY,
                )
                if postcode.startswith("CV"):
                    body["subject"]["date_of_birth"] = "1980-01-01"  # an adult: 25+
                done.append(await submit(served.client, uhb, body=body))
        for accepted in done:
            await wait_status(
                served.client, accepted["status_url"], uhb, until=_decided, timeout=10
            )
        navigators = bearer(demo_key("navigators"))
        for accepted in done[: AREAS["B10 0AA"]]:  # Birmingham's accepted in time
            await inbox_entry(served.client, accepted["id"], navigators)
            r = await respond(served.client, navigators, accepted["id"], status="accepted")
            assert r.status_code == 200, r.text
        yield Console(served, hub, done)


def _decided(status: dict[str, Any]) -> bool:
    return bool(status["status"] != "received")


async def test_the_dashboard_shows_counts_and_suppresses_small_ones(console: Console) -> None:
    async with console.signed_in("lead") as lead:
        r = await lead.get("/console/dashboard")
    assert r.status_code == 200, r.text
    page = r.text
    titles = {i.id: i.title for i in console.served.runtime.config().interventions}
    areas = table(page, "table-area")
    # Coventry's 1 is below the threshold; Dudley's 3 is hidden with it, or the total
    # less the others would give the 1 away.
    assert areas["Birmingham"] == ["4"]
    assert areas["Coventry"] == ["suppressed"]
    assert areas["Dudley"] == ["suppressed"]
    assert areas["Walsall"] == ["0"]
    assert areas["Total"] == ["8"]
    ages = table(page, "table-age")
    assert ages["25+"] == ["suppressed"] and ages["14-17"] == ["suppressed"]
    assert ages["Total"] == ["8"]
    assert table(page, "table-reason")[REASONS["knife-crime"]] == ["8"]
    offers = table(page, "table-acceptance")
    birmingham, black_country = (titles[f"navigators-{i}"] for i in ("birmingham", "black-country"))
    # in time, late, awaiting, overdue, total; the median of 4 acceptances within minutes
    assert offers[birmingham][:5] == ["4", "0", "0", "0", "4"]
    assert float(offers[birmingham][5]) < 1
    assert offers[black_country] == ["0", "0", "3", "0", "3", "too few"]
    this_week = week_label(iso_week(datetime.now(UTC)))
    assert table(page, "table-week") == {this_week: ["8"], "Total": ["8"]}
    # Charts are server-drawn SVG, labelled for screen readers; nothing is fetched.
    assert page.count('role="img"') == 6 and '<title id="chart-area-title">' in page
    assert "<script" not in page and "http://" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )
    for detail in (GIVEN, FAMILY, SUMMARY, "B10 0AA", "2010-03-14"):
        assert detail not in page


async def test_a_team_member_may_not_see_the_dashboard(console: Console) -> None:
    async with console.signed_in("member") as member:
        assert (await member.get("/console/dashboard")).status_code == 403
        assert (await member.get("/console/directory")).status_code == 200
    anonymous = console.served.client
    r = await anonymous.get("/console/dashboard")
    assert r.status_code == 303 and "/console/sign-in" in r.headers["location"]


async def test_the_directory_shows_agreements_and_only_the_ig_lead_sees_disclosures(
    console: Console,
) -> None:
    config = console.served.runtime.config()
    async with console.signed_in("member") as member:
        page = (await member.get("/console/directory")).text
        refused = await member.get("/console/directory/flows/isa-ae-navigators/ae-to-navigators")
    assert config.version in page
    assert "A&amp;E departments to youth violence navigators" in page
    assert "navigators-birmingham" in page
    assert "Disclosures" not in page and "/console/directory/flows/" not in page
    assert refused.status_code == 403

    async with console.signed_in("ig") as ig:
        page = (await ig.get("/console/directory")).text
        link = re.search(r'href="(/console/directory/flows/isa-ae-navigators/[^"]+)"', page)
        assert link, page
        flow = await ig.get(link[1].replace("&amp;", "&"))
    # Every referral from uhb to navigators was disclosed under this flow (the adult was held).
    routed = AREAS["B10 0AA"] + AREAS["DY1 1AA"]
    assert re.search(rf'data-flow="isa-ae-navigators/2/ae-to-navigators">.*?>{routed}<', page)
    assert flow.status_code == 200
    assert re.search(rf'id="disclosure-total">{routed}<', flow.text)
    rows = table(flow.text, "table-disclosures")
    assert len(rows) == routed
    assert {r["reference"] for r in console.referrals} >= set(rows)
    for detail in (GIVEN, FAMILY, SUMMARY, "B10 0AA"):
        assert detail not in flow.text


def test_age_bands() -> None:
    assert [band(a) for a in (None, 0, 9, 10, 13, 14, 17, 18, 24, 25, 90)] == [
        "unknown",
        "under 10",
        "under 10",
        "10-13",
        "10-13",
        "14-17",
        "14-17",
        "18-24",
        "18-24",
        "25+",
        "25+",
    ]


def test_weeks() -> None:
    assert iso_week(datetime(2026, 11, 29, tzinfo=UTC)) == "2026-W48"
    assert week_label("2026-W48") == "Week from 23 Nov 2026"
    assert week_label("2021-W01") == "Week from 04 Jan 2021"


def test_held_reasons_are_codes_never_details() -> None:
    detail = {
        "candidates": [
            {"blocks": [{"code": "ineligible-age", "detail": "age 46 outside 11-25"}]},
            {"rejection": "capacity-full", "detail": "", "blocks": []},
        ]
    }
    assert held_codes(detail) == {"ineligible-age", "capacity-full"}
    assert held_codes({"candidates": []}) == {"no-rule-matched"}


def test_acceptance_in_time_late_and_overdue() -> None:
    now = datetime(2026, 11, 29, 12, tzinfo=UTC)
    due = now - timedelta(hours=1)

    def offer(accepted_after: float | None, awaiting: bool = False) -> OfferFacts:
        received = now - timedelta(hours=30)
        accepted = None if accepted_after is None else received + timedelta(hours=accepted_after)
        return OfferFacts("a", received, due, accepted, awaiting)

    offers = [offer(h) for h in (1, 2, 3, 4)] + [offer(40), offer(None, awaiting=True)]
    t = acceptance(offers, now, 3, {"a": "Intervention A"})
    row = t.rows[0]
    assert (row.label, row.in_time, row.median_hours) == ("Intervention A", 4, 3.0)
    # one late and one overdue are small: both hidden, with their column totals (which
    # repeat them); the row total shows only what they add up to
    assert (row.late, row.overdue, t.late, t.overdue) == (None, None, None, None)
    assert (row.waiting, row.total, t.in_time, t.total) == (0, 6, 4, 6)


def test_agreements_ending_soon_and_their_standing() -> None:
    config = load_configuration(DEMO_CONFIG_DIR)
    ends = next(a for a in config.agreements if a.status == "active" and a.valid_to)
    assert ends.valid_to is not None
    soon = expiring(config, ends.valid_to - timedelta(days=10))
    assert any(e.id == ends.id and e.what == "ends" and e.days == 10 for e in soon)
    assert not [e for e in expiring(config, date(2000, 1, 1)) if e.id == ends.id]
    assert standing(ends, ends.valid_to + timedelta(days=1)) == "expired"
    assert standing(ends, ends.valid_from - timedelta(days=1)) == "not yet in force"
    assert standing(ends, ends.valid_from) == "active"
