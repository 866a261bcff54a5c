"""The referrer's loop over real HTTP (embedded runtime, SQLite, a real SMTP server): the
status email links to the console page of what they sent, that page shows what happened in
words, never the person's details nor another organisation's referral; and the team's own
pages read without a code book."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from testkit.console import csrf_of, signed_in
from testkit.partner import bearer, inbox_entry, respond, submit, wait_status
from testkit.runtime import Served, runtime_settings, serving
from testkit.smtp import SmtpServer
from vrp.store import audit
from vrp.store.tables import audit_log

UHB = bearer("vrp_demo-uhb_demo-only-not-a-secret")
WMP = bearer("vrp_demo-wmp_demo-only-not-a-secret")
NAVIGATORS = bearer("vrp_demo-navigators_demo-only-not-a-secret")
NAV = "Hospital Youth Violence Navigators (fictional charity)"
UHB_NAME = "University Hospitals Birmingham NHS Foundation Trust (A&amp;E)"
LINK = re.compile(r"Open it here: (\S+)")


@pytest.fixture
async def system(tmp_path: Path, smtp: SmtpServer) -> AsyncIterator[Served]:
    """The embedded demo system, alerting by email to a real SMTP server on loopback."""
    settings = runtime_settings(f"sqlite+aiosqlite:///{tmp_path}/vrp.db", smtp=smtp)
    async with serving(settings) as served:
        yield served


def person(system: Served) -> httpx.AsyncClient:
    """A browser-like client (own cookie jar) for one person."""
    return httpx.AsyncClient(base_url=system.client.base_url, timeout=10)


def routed(status: dict[str, Any]) -> bool:
    """Whether a referral's status says it was routed."""
    return bool(status["status"] == "routed")


def alerted(org: str) -> Callable[[dict[str, Any]], bool]:
    """Whether a referral's status shows an alert sent to `org`."""
    return lambda status: any(
        e["type"] == "alert-sent" and e["detail"]["organisation"] == org for e in status["timeline"]
    )


async def status_email(smtp: SmtpServer, reference: str, words: str) -> str:
    """The body of the referrer's status email about `reference` that says `words`."""

    def bodies() -> list[str]:
        out = []
        for m in smtp.mailbox.for_reference(reference, kind="status"):
            raw = m.get_payload(decode=True)
            assert isinstance(raw, bytes)
            out.append(raw.decode())
        return out

    assert await smtp.mailbox.until(lambda _: any(words in b for b in bodies()), 10), bodies()
    return next(b for b in bodies() if words in b)


async def test_the_referrer_follows_the_status_email_to_what_happened(
    system: Served, smtp: SmtpServer
) -> None:
    sent = await submit(system.client, UHB)
    rid, ref = sent["id"], sent["reference"]
    body = await status_email(smtp, ref, "routed to")
    assert f"at {NAV}" in body and "routed by" not in body
    link = LINK.search(body)
    assert link and link.group(1) == f"{system.client.base_url}/console/sent/{rid}"
    await inbox_entry(system.client, rid, NAVIGATORS)
    declined = await respond(
        system.client, NAVIGATORS, rid, status="declined", reason="no-capacity"
    )
    assert declined.status_code == 200, declined.text
    # The routing and the response on its timeline (the timeline consumer may lag the email).
    await wait_status(system.client, sent["status_url"], UHB, ["routed", "declined"])
    async with person(system) as browser:
        page = await browser.get(link.group(1).removeprefix(str(system.client.base_url)))
        assert page.status_code == 303  # sign in first, then straight back
        assert (await signed_in(browser, "uhb.referrer")).endswith("/console/sent")
        page = await browser.get(f"/console/sent/{rid}")
    assert page.status_code == 200
    html = page.text
    assert f"Referral {ref}" in html
    assert f"at {NAV}" in html and "Routed to" in html
    assert "Declined by" in html and "The service has no capacity" in html
    assert "no-capacity" not in html and "navigators-birmingham" not in html
    # As the partner API shows its sender: what happened, never the person's details.
    for detail in ("Fictional", "Alex", "9434765919", "B10 0AA", "Stab wound"):
        assert detail not in html, detail
    await audit.seal_all(system.runtime.db)
    async with system.runtime.db.engine.connect() as conn:
        rows = list(await conn.execute(select(audit_log).where(audit_log.c.referral_id == rid)))
    views = [(r.actor, r.detail.get("operation")) for r in rows if r.detail.get("via") == "console"]
    assert views == [("org:uhb/user:uhb.referrer", "sent-referral")]


async def test_referrals_we_sent_lists_ours_newest_first_and_nobody_elses(
    system: Served,
) -> None:
    first = await submit(system.client, UHB)
    second = await submit(system.client, UHB)
    theirs = await submit(system.client, WMP)
    for s in (first, second):
        # Its status (intake's timeline) and the team's copy (the inbox) arrive apart.
        await wait_status(system.client, s["status_url"], UHB, until=routed)
        await inbox_entry(system.client, s["id"], NAVIGATORS)
    async with person(system) as browser:
        await signed_in(browser, "uhb.referrer")
        listed = (await browser.get("/console/sent")).text
        assert listed.index(second["reference"]) < listed.index(first["reference"])
        assert theirs["reference"] not in listed
        assert f"at {NAV}" in listed and "Routed" in listed
        assert "Due in" in listed  # the time left for the receivers to respond
        assert f"Referrals {UHB_NAME} sent" in listed
        other = await browser.get(f"/console/sent/{theirs['id']}")
        missing = await browser.get("/console/sent/00000000-0000-0000-0000-000000000000")
        assert other.status_code == missing.status_code == 404
        assert theirs["reference"] not in other.text
        # A referrer's role carries no team inbox, and a team member has no referrer pages.
        assert (await browser.get("/console/inbox")).status_code == 403
    async with person(system) as team:
        await signed_in(team, "navigators.member")
        assert (await team.get("/console/sent")).status_code == 403


async def test_the_teams_pages_read_without_a_code_book(system: Served) -> None:
    sent = await submit(system.client, UHB)  # high risk, from a Birmingham postcode
    rid = sent["id"]
    await inbox_entry(system.client, rid, NAVIGATORS)
    await wait_status(
        system.client, sent["status_url"], UHB, ["routed"], until=alerted("navigators")
    )
    async with person(system) as browser:
        await signed_in(browser, "navigators.member")
        inbox = (await browser.get("/console/inbox")).text
        assert f"Referrals routed to {NAV}" in inbox
        assert ">Awaiting a response</a>" in inbox and ">In progress</a>" in inbox  # filters
        assert 'class="tag tag-risk-high">High risk<' in inbox
        assert re.search(r"Due in (\d+ h|\d+ days)", inbox), inbox
        page = await browser.get(f"/console/referrals/{rid}")
        html = page.text
        assert '<dt>Local authority</dt><dd class="pre">Birmingham<' in html
        assert "E08000025" not in html
        assert 'class="tag tag-risk-high">High risk<' in html
        assert "History" in html and "Routed to" in html
        assert f"Viewed by navigators.member ({NAV})" in html  # this very view
        assert "by email" in html  # the new-referral alert, its channel and time
        assert "referrals@navigators.example" not in html  # never its address
        r = await browser.post(
            f"/console/referrals/{rid}/response",
            data={
                "status": "accepted",
                "intervention": "navigators-birmingham",
                "csrf_token": csrf_of(html),
            },
        )
        assert r.status_code == 303
        after = (await browser.get(f"/console/referrals/{rid}")).text
        assert f"Accepted by {NAV}" in after


async def test_an_administrator_adds_a_referrer_who_starts_at_what_they_sent(
    system: Served,
) -> None:
    env = os.environ | {"VRP_DATABASE_URL": system.runtime.settings.database_url}
    command = [sys.executable, "-m", "services.cli", "users", "add", "wmp.referrer"]
    command += ["--org", "wmp", "--role", "referrer", "--name", "Wyn Referrer"]
    # In a thread: the system runs on this event loop, and SQLite's lock must not stall it.
    added = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert added.returncode == 0, added.stderr
    assert "Referrer" in added.stdout
    password = re.search(r"password \(shown once\): (\S+)", added.stdout)
    assert password, added.stdout
    theirs = await submit(system.client, WMP)
    ours = await submit(system.client, UHB)
    async with person(system) as browser:
        assert (await signed_in(browser, "wmp.referrer", password.group(1))).endswith("/sent")
        listed = (await browser.get("/console/sent")).text
        assert theirs["reference"] in listed and ours["reference"] not in listed
