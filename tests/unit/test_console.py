"""The web console over real HTTP (embedded runtime, SQLite): sign-in, sessions, CSRF,
lockout, the team inbox and the hub's triage, each as a person would notice it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from testkit.console import DEMO_PASSWORD, csrf_of, sign_in, signed_in
from testkit.partner import bearer, inbox_entry, submit, wait_status
from testkit.referrals import example
from testkit.runtime import Served, runtime_settings, serving
from vrp.domain.people import Role
from vrp.store import accounts, audit
from vrp.store.tables import audit_log, console_users
from vrp.store.unit import unit_of_work

UHB = bearer("vrp_demo-uhb_demo-only-not-a-secret")
NAVIGATORS = bearer("vrp_demo-navigators_demo-only-not-a-secret")
HELD = {"reasons": ["gang-association"]}
"""From A&E: the exploitation rule's interventions have no usable agreement, so it is held;
the navigators' agreement would permit it (the hub may route it there by hand)."""


@pytest.fixture
async def system(tmp_path: Path) -> AsyncIterator[Served]:
    """The embedded system with the demo configuration, its keys and its accounts."""
    settings = runtime_settings(f"sqlite+aiosqlite:///{tmp_path}/vrp.db", mail_dir=tmp_path)
    async with serving(settings) as served:
        yield served


def person(system: Served) -> httpx.AsyncClient:
    """A browser-like client (own cookie jar) for one person."""
    return httpx.AsyncClient(base_url=system.client.base_url, timeout=10)


async def routed_to_navigators(system: Served) -> str:
    accepted = await submit(system.client, UHB)
    await inbox_entry(system.client, accepted["id"], NAVIGATORS)
    return str(accepted["id"])


async def test_a_page_needs_sign_in_and_returns_there_afterwards(system: Served) -> None:
    rid = await routed_to_navigators(system)
    async with person(system) as browser:
        r = await browser.get(f"/console/referrals/{rid}")
        assert r.status_code == 303
        assert r.headers["location"] == f"/console/sign-in?next=/console/referrals/{rid}"
        back = await sign_in(browser, "navigators.member", next=f"/console/referrals/{rid}")
        assert back.status_code == 303 and back.headers["location"] == f"/console/referrals/{rid}"
        cookie = back.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/console" in cookie
        page = await browser.get(f"/console/referrals/{rid}")
        assert page.status_code == 200 and "Fictional" in page.text  # as minimised for them
        assert page.headers["cache-control"] == "no-store"


async def test_sign_in_refuses_an_outside_redirect(system: Served) -> None:
    async with person(system) as browser:
        r = await sign_in(browser, "navigators.member", next="https://evil.example/")
        assert r.headers["location"] == "/console/inbox"
        r = await sign_in(browser, "navigators.member", next="//evil.example/console/")
        assert r.headers["location"] == "/console/inbox"


async def test_another_organisation_gets_not_found_for_the_referral(system: Served) -> None:
    rid = await routed_to_navigators(system)
    async with unit_of_work(system.runtime.db) as unit:
        await accounts.add(
            unit,
            "yjs.member",
            "Y",
            "birmingham-yjs",
            Role.TEAM_MEMBER,
            DEMO_PASSWORD,
            datetime.now(UTC),
        )
    async with person(system) as browser:
        await signed_in(browser, "yjs.member")
        other = await browser.get(f"/console/referrals/{rid}")
        missing = await browser.get("/console/referrals/00000000-0000-0000-0000-000000000000")
        assert other.status_code == missing.status_code == 404
        assert "Page not found" in other.text and "Fictional" not in other.text


async def test_a_form_post_without_the_csrf_token_changes_nothing(system: Served) -> None:
    rid = await routed_to_navigators(system)
    async with person(system) as browser:
        await signed_in(browser, "navigators.member")
        for token in ("", "forged"):
            r = await browser.post(
                f"/console/referrals/{rid}/response",
                data={"status": "accepted", "csrf_token": token},
            )
            assert r.status_code == 403 and "could not be accepted" in r.text
    entry = await inbox_entry(system.client, rid, NAVIGATORS)
    assert entry["status"] == "awaiting"


async def test_accepting_in_the_console_shows_in_the_referrers_api(system: Served) -> None:
    rid = await routed_to_navigators(system)
    async with person(system) as browser:
        await signed_in(browser, "navigators.member")
        page = await browser.get(f"/console/referrals/{rid}")
        r = await browser.post(
            f"/console/referrals/{rid}/response",
            data={
                "status": "accepted",
                "intervention": "navigators-birmingham",
                "csrf_token": csrf_of(page.text),
            },
        )
        assert r.status_code == 303 and r.headers["location"].endswith("?done=accepted")
        again = await browser.post(
            f"/console/referrals/{rid}/response",
            data={"status": "declined", "reason": "no-capacity", "csrf_token": csrf_of(page.text)},
        )
        # The lifecycle: accepted cannot be declined; the page says so itself.
        assert again.status_code == 409 and "There is a problem" in again.text
    status = (await system.client.get(f"/v1/referrals/{rid}", headers=UHB)).json()
    assert status["status"] == "accepted"


async def test_each_view_of_a_referral_is_audited_with_the_person(system: Served) -> None:
    rid = await routed_to_navigators(system)
    async with person(system) as browser:
        await signed_in(browser, "navigators.member")
        await browser.get(f"/console/referrals/{rid}")
    await audit.seal_all(system.runtime.db)
    async with system.runtime.db.engine.connect() as conn:
        rows = list(await conn.execute(select(audit_log).where(audit_log.c.referral_id == rid)))
    views = [r for r in rows if r.detail.get("via") == "console"]
    assert [(r.kind, r.actor) for r in views] == [("read", "org:navigators/user:navigators.member")]


async def test_a_locked_account_stays_locked_until_reset(system: Served) -> None:
    async with person(system) as browser:
        for _ in range(5):
            r = await sign_in(browser, "navigators.lead", "wrong password!")
            assert r.status_code == 401
        right = await sign_in(browser, "navigators.lead")
        assert right.status_code == 401  # the right password no longer opens it
    async with system.runtime.db.engine.connect() as conn:
        row = (
            await conn.execute(
                select(console_users).where(console_users.c.username == "navigators.lead")
            )
        ).one()
    assert row.locked_until > datetime.now(UTC) + timedelta(seconds=30)
    async with unit_of_work(system.runtime.db) as unit:
        await accounts.set_password(unit, "navigators.lead", DEMO_PASSWORD, datetime.now(UTC))
    async with person(system) as browser:
        assert (await sign_in(browser, "navigators.lead")).status_code == 303


async def test_signing_out_ends_the_session(system: Served) -> None:
    async with person(system) as browser:
        await signed_in(browser, "navigators.member")
        inbox = await browser.get("/console/inbox")
        cookie = browser.cookies.get("vrp_session")
        await browser.post("/console/sign-out", data={"csrf_token": csrf_of(inbox.text)})
    async with person(system) as thief:  # the old cookie, replayed
        thief.cookies.set("vrp_session", cookie or "", path="/console")
        assert (await thief.get("/console/inbox")).status_code == 303


async def test_an_idle_or_expired_session_signs_out(system: Served) -> None:
    now = datetime.now(UTC)
    async with unit_of_work(system.runtime.db) as unit:
        claim = await accounts.claim(unit, "navigators.member", now, accounts.LockoutPolicy())
        assert claim is not None and accounts.check_password(claim.password_hash, DEMO_PASSWORD)
        token, _ = await accounts.open_session(unit, claim.person, now, timedelta(hours=8))
        idle = timedelta(minutes=30)
        assert await accounts.session(unit, token, now + timedelta(minutes=29), idle)
        assert await accounts.session(unit, token, now + timedelta(minutes=61), idle) is None
        assert await accounts.session(unit, token, now + timedelta(hours=9), idle) is None


async def test_the_hub_cannot_open_a_referral_that_was_routed_normally(system: Served) -> None:
    rid = await routed_to_navigators(system)
    async with person(system) as hub:
        await signed_in(hub, "hub.coordinator")
        r = await hub.get(f"/console/triage/{rid}")
        assert r.status_code == 404 and "navigators" not in r.text


async def test_the_hub_cannot_close_or_route_a_referral_it_cannot_see(system: Served) -> None:
    rid = await routed_to_navigators(system)
    async with person(system) as hub:
        await signed_in(hub, "hub.coordinator")
        token = csrf_of((await hub.get("/console/triage")).text)
        for action, form in (
            ("close", {"reason": "no-longer-needed"}),
            (
                "route",
                {"intervention": "navigators-birmingham", "justification": "referrer-request"},
            ),
        ):
            r = await hub.post(f"/console/triage/{rid}/{action}", data=form | {"csrf_token": token})
            # The same answer as for a referral that does not exist: nothing about its state.
            assert r.status_code == 404 and "routed" not in r.text, (action, r.text)
    status = (await system.client.get(f"/v1/referrals/{rid}", headers=UHB)).json()
    assert status["status"] != "cancelled"
    assert (await inbox_entry(system.client, rid, NAVIGATORS))["status"] == "awaiting"


async def test_error_boxes_show_only_the_consoles_own_messages(system: Served) -> None:
    rid = await routed_to_navigators(system)
    async with person(system) as browser:
        await signed_in(browser, "navigators.member")
        lure = "Your account is suspended: call 0800 000 000"
        page = await browser.get(f"/console/referrals/{rid}", params={"error": lure})
        assert page.status_code == 200 and "There is a problem" not in page.text
        assert "0800 000 000" not in page.text
        known = await browser.get(f"/console/referrals/{rid}", params={"error": "choose-reason"})
        assert "There is a problem" in known.text and "Choose a reason." in known.text


async def test_a_role_without_the_inbox_is_refused_it(system: Served) -> None:
    async with person(system) as browser:
        assert await signed_in(browser, "hub.coordinator") == "/console/triage"
        r = await browser.get("/console/inbox")
        assert r.status_code == 403
    async with person(system) as browser:
        await signed_in(browser, "navigators.member")
        assert (await browser.get("/console/triage")).status_code == 403


async def test_the_hub_routes_a_held_referral_only_where_an_agreement_permits(
    system: Served,
) -> None:
    held = await submit(system.client, UHB, body=example(**HELD))
    await wait_status(system.client, held["status_url"], UHB, until=lambda s: s["status"] == "held")
    rid = held["id"]
    async with person(system) as hub:
        await signed_in(hub, "hub.coordinator")
        queue = await hub.get("/console/triage")
        assert held["reference"] in queue.text
        page = await hub.get(f"/console/triage/{rid}")
        assert "no agreement permits sharing with it" in page.text
        form = {"justification": "professional-judgement", "csrf_token": csrf_of(page.text)}
        refused = await hub.post(
            f"/console/triage/{rid}/route",
            data=form | {"intervention": "schools-violence-prevention"},
        )
        assert refused.status_code == 422 and "not permitted" in refused.text
        ok = await hub.post(
            f"/console/triage/{rid}/route", data=form | {"intervention": "navigators-birmingham"}
        )
        assert ok.status_code == 303 and ok.headers["location"].endswith("?done=routed")
    entry = await inbox_entry(system.client, rid, NAVIGATORS)
    assert entry["intervention"] == "navigators-birmingham"
    status = await wait_status(
        system.client, held["status_url"], UHB, until=lambda s: s["status"] == "routed"
    )
    assert status["status"] == "routed"
    await audit.seal_all(system.runtime.db)
    async with system.runtime.db.engine.connect() as conn:
        kinds = [
            (r.kind, r.actor, r.detail.get("justification"))
            for r in await conn.execute(select(audit_log).where(audit_log.c.referral_id == rid))
        ]
    assert ("manual-routing", "org:wm-vru/user:hub.coordinator", "professional-judgement") in kinds
    assert any(k == "disclosure" for k, _, _ in kinds)


async def test_the_hub_closes_a_held_referral_and_the_referrer_is_told(system: Served) -> None:
    held = await submit(system.client, UHB, body=example(**HELD))
    await wait_status(system.client, held["status_url"], UHB, until=lambda s: s["status"] == "held")
    async with person(system) as hub:
        await signed_in(hub, "hub.coordinator")
        page = await hub.get(f"/console/triage/{held['id']}")
        r = await hub.post(
            f"/console/triage/{held['id']}/close",
            data={"reason": "no-longer-needed", "csrf_token": csrf_of(page.text)},
        )
        assert r.status_code == 303
        again = await hub.post(
            f"/console/triage/{held['id']}/route",
            data={
                "intervention": "navigators-birmingham",
                "justification": "referrer-request",
                "csrf_token": csrf_of(page.text),
            },
        )
        # Closed: nobody may be offered it, and the page says why (not through its address).
        assert again.status_code == 409 and "There is a problem" in again.text
    status = (await system.client.get(held["status_url"], headers=UHB)).json()
    assert status["status"] == "cancelled"


async def test_a_team_takes_a_referral_through_to_a_coded_outcome(system: Served) -> None:
    rid = await routed_to_navigators(system)
    async with person(system) as browser:
        await signed_in(browser, "navigators.lead")
        page = await browser.get(f"/console/referrals/{rid}")
        token = csrf_of(page.text)
        for step in ({"status": "accepted"}, {"status": "in-progress"}):
            r = await browser.post(
                f"/console/referrals/{rid}/response", data=step | {"csrf_token": token}
            )
            assert r.headers["location"].endswith(f"?done={step['status']}")
        no_outcome = await browser.post(
            f"/console/referrals/{rid}/response",
            data={"status": "completed", "csrf_token": token},
        )
        assert no_outcome.headers["location"].endswith("?error=choose-outcome")
        shown = await browser.get(no_outcome.headers["location"])
        assert "There is a problem" in shown.text and "Choose an outcome." in shown.text
        r = await browser.post(
            f"/console/referrals/{rid}/response",
            data={"status": "completed", "outcome": "engaged", "csrf_token": token},
        )
        assert r.headers["location"].endswith("?done=completed")
        shown = await browser.get(f"/console/referrals/{rid}")
        assert "The person engaged with the intervention" in shown.text
    status = (await system.client.get(f"/v1/referrals/{rid}", headers=UHB)).json()
    assert status["status"] == "completed"


async def test_the_hub_reads_reasons_only_as_its_triage_agreement_permits(
    system: Served,
) -> None:
    # 30 years old: no rule matches, and the navigators' age limit blocks a manual offer.
    held = await submit(system.client, UHB, body=example(subject__date_of_birth="1996-01-01"))
    await wait_status(system.client, held["status_url"], UHB, until=lambda s: s["status"] == "held")
    rid = held["id"]
    async with person(system) as hub:
        await signed_in(hub, "hub.coordinator")
        page = await hub.get(f"/console/triage/{rid}")
        refused = await hub.post(
            f"/console/triage/{rid}/route",
            data={
                "intervention": "navigators-birmingham",
                "justification": "professional-judgement",
                "csrf_token": csrf_of(page.text),
            },
        )
    assert refused.status_code == 422
    for shown in (page.text, refused.text):
        # The demo's hub-triage flow shares an age band, never the age or date of birth.
        assert "outside its age range (age band 25-34 outside 11-25)" in shown
        assert "age 30" not in shown and "1996" not in shown


async def test_guessing_across_accounts_from_one_address_is_stopped(tmp_path: Path) -> None:
    settings = runtime_settings(
        f"sqlite+aiosqlite:///{tmp_path}/vrp.db", mail_dir=tmp_path, auth_failures_per_address=3
    )
    async with serving(settings) as system, person(system) as browser:
        for username in ("navigators.member", "navigators.lead", "ig.lead"):
            assert (await sign_in(browser, username, "one common guess")).status_code == 401
        stopped = await sign_in(browser, "hub.coordinator")  # even the right password
        assert stopped.status_code == 429 and int(stopped.headers["retry-after"]) >= 1
        assert "Too many failed sign-ins" in stopped.text
