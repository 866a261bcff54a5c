"""The console in headless Debian Chromium (Playwright), with the network limited to the
service: what a team member and the hub coordinator do, keyboard only where it matters,
and an axe-core check of every page. Pictures go to var/screenshots/."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser

from testkit.browser import (
    accessible,
    confined,
    interactive,
    keyboard_sign_in,
    screenshot,
    tab_order,
)
from testkit.console import DEMO_PASSWORD
from testkit.partner import bearer, inbox_entry, submit, wait_status
from testkit.referrals import example
from testkit.runtime import Served
from testkit.smtp import SmtpServer
from vrp.domain.people import Role
from vrp.store import accounts
from vrp.store.retention import utc_now
from vrp.store.unit import unit_of_work

pytestmark = pytest.mark.browser
UHB = bearer("vrp_demo-uhb_demo-only-not-a-secret")
NAVIGATORS = bearer("vrp_demo-navigators_demo-only-not-a-secret")
LINK = re.compile(r"Open it here: (\S+)")


async def test_a_team_member_accepts_a_referral_from_the_link_in_its_alert(
    system: Served, smtp: SmtpServer, browser: Browser
) -> None:
    accepted = await submit(system.client, UHB)
    ref = accepted["reference"]
    assert await smtp.mailbox.until(lambda _: bool(smtp.mailbox.for_reference(ref)), 10)
    raw = smtp.mailbox.for_reference(ref)[0].get_payload(decode=True)
    assert isinstance(raw, bytes)
    body = raw.decode()
    link = LINK.search(body)
    assert link and link.group(1).endswith(f"/console/referrals/{accepted['id']}")
    await inbox_entry(system.client, accepted["id"], NAVIGATORS)  # travels apart from the alert
    async with confined(browser, str(system.client.base_url)) as box:
        page = await box.context.new_page()
        await page.goto(link.group(1))
        assert (await page.title()).startswith("Sign in")
        await accessible(page)
        await screenshot(page, "sign-in")
        await keyboard_sign_in(page, "navigators.member")
        assert page.url == link.group(1)  # straight to the referral after signing in
        await page.get_by_role("heading", name=f"Referral {ref}").wait_for()
        await accessible(page)
        await screenshot(page, "referral")
        # Every action on the page is reachable with Tab, in reading order.
        reached = await tab_order(page)
        assert set(await interactive(page)) <= set(reached), reached
        # Accept with the keyboard: Tab to the button, Enter.
        while not await page.evaluate("document.activeElement.textContent.trim() === 'Accept'"):
            await page.keyboard.press("Tab")
        await page.keyboard.press("Enter")
        await page.get_by_role("status").wait_for()
        assert "accepted" in await page.get_by_role("status").inner_text()
        await page.goto("/console/inbox")
        await accessible(page)
        await screenshot(page, "inbox")
        assert box.blocked == []
    status = (await system.client.get(accepted["status_url"], headers=UHB)).json()
    assert status["status"] == "accepted"


async def test_the_hub_routes_a_held_referral_where_an_agreement_permits(
    system: Served, browser: Browser
) -> None:
    held = await submit(system.client, UHB, body=example(reasons=["gang-association"]))
    await wait_status(system.client, held["status_url"], UHB, until=lambda s: s["status"] == "held")
    base = str(system.client.base_url)
    async with confined(browser, base) as box:
        page = await box.context.new_page()
        await page.goto("/console/")
        await keyboard_sign_in(page, "hub.coordinator")
        assert page.url.endswith("/console/triage")
        await accessible(page)
        await screenshot(page, "triage")
        await page.get_by_role("link", name=held["reference"]).click()
        await accessible(page)
        intervention = page.get_by_label("Intervention")
        await intervention.select_option("schools-violence-prevention")
        await page.get_by_label("Justification").select_option("professional-judgement")
        await page.get_by_role("button", name="Route").click()
        refusal = page.get_by_role("alert")
        assert "not permitted" in await refusal.inner_text()
        await accessible(page)
        await screenshot(page, "triage-refused")
        await page.get_by_label("Intervention").select_option("navigators-birmingham")
        await page.get_by_label("Justification").select_option("professional-judgement")
        await page.get_by_role("button", name="Route").click()
        said = await page.get_by_role("status").inner_text()
        # The router's answer, or that it is awaited (never a success not yet known).
        assert "Routed to" in said or "waiting for the router" in said, said
        assert box.blocked == []
    await inbox_entry(system.client, held["id"], NAVIGATORS)
    async with confined(browser, base) as box:
        page = await box.context.new_page()
        await page.goto("/console/inbox")
        await keyboard_sign_in(page, "navigators.member")
        await page.get_by_role("link", name=held["reference"]).wait_for()


async def test_refusals_a_person_would_meet(system: Served, browser: Browser) -> None:
    accepted = await submit(system.client, UHB)
    await inbox_entry(system.client, accepted["id"], NAVIGATORS)
    url = f"/console/referrals/{accepted['id']}"
    async with unit_of_work(system.runtime.db) as unit:
        await accounts.add(
            unit, "yjs.member", "Y", "birmingham-yjs", Role.TEAM_MEMBER, DEMO_PASSWORD, utc_now()
        )
    async with confined(browser, str(system.client.base_url)) as box:
        page = await box.context.new_page()
        # Someone of another organisation: not found, exactly as for no such referral.
        await page.goto(url)
        await keyboard_sign_in(page, "yjs.member")
        assert page.url.endswith(url)
        await page.get_by_role("heading", name="Page not found").wait_for()
        await accessible(page)
        await screenshot(page, "not-found")
        # Triage pages are the hub's: a team member is refused them.
        response = await page.goto(url.replace("referrals", "triage"))
        assert response is not None and response.status == 403
        assert "Fictional" not in await page.content()
    async with confined(browser, str(system.client.base_url)) as box:
        page = await box.context.new_page()
        await page.goto(url)
        await keyboard_sign_in(page, "navigators.member")
        # A form whose CSRF token was removed is refused, and nothing changes.
        await page.evaluate(
            "document.querySelectorAll('[name=csrf_token]').forEach(e => e.remove())"
        )
        await page.get_by_role("button", name="Accept").click()
        await page.get_by_role("heading", name="The form could not be accepted").wait_for()
        await accessible(page)
    entry = await inbox_entry(system.client, accepted["id"], NAVIGATORS)
    assert entry["status"] == "awaiting"
    async with confined(browser, str(system.client.base_url)) as box:
        page = await box.context.new_page()
        for _ in range(5):
            await page.goto("/console/sign-in")
            await keyboard_sign_in(page, "navigators.lead", "not the password")
        await page.goto("/console/sign-in")
        await keyboard_sign_in(page, "navigators.lead")  # the right one: still locked
        assert "/console/sign-in" in page.url
        assert "locked" in await page.get_by_role("alert").inner_text()
        await accessible(page)


async def test_the_pages_fit_a_phone(system: Served, browser: Browser) -> None:
    accepted = await submit(system.client, UHB)
    await inbox_entry(system.client, accepted["id"], NAVIGATORS)
    async with confined(browser, str(system.client.base_url)) as box:
        page = await box.context.new_page()
        await page.set_viewport_size({"width": 360, "height": 740})
        await page.goto(f"/console/referrals/{accepted['id']}")
        await keyboard_sign_in(page, "navigators.member")
        for path in ("/console/inbox", f"/console/referrals/{accepted['id']}"):
            await page.goto(path)
            wide = await page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert wide <= 0, f"{path} scrolls sideways by {wide}px on a phone"
        await screenshot(page, "referral-phone")


async def test_the_dashboard_and_directory_for_the_ig_lead(
    system: Served, browser: Browser
) -> None:
    for _ in range(6):
        accepted = await submit(system.client, UHB)
    await inbox_entry(system.client, accepted["id"], NAVIGATORS)
    async with confined(browser, str(system.client.base_url)) as box:
        page = await box.context.new_page()
        await page.goto("/console/")
        await keyboard_sign_in(page, "ig.lead")
        assert page.url.endswith("/console/dashboard")
        await page.get_by_role("heading", level=1).wait_for()
        await accessible(page)
        await screenshot(page, "dashboard")
        assert set(await interactive(page)) <= set(await tab_order(page, 200))
        await page.get_by_role("link", name="Directory").click()
        await accessible(page)
        await screenshot(page, "directory")
        await page.locator("a[href*='/console/directory/flows/']").first.click()
        await page.get_by_role("heading", level=1).wait_for()
        await accessible(page)
        assert accepted["reference"] in await page.content()
        assert box.blocked == []
