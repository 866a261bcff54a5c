"""A team member records the first contact with a person in headless Chromium, keyboard
only: the form on the referral's page, its refusal of a time in the future, the history
line, and an axe-core check of each state of the page. Pictures go to var/screenshots/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import Browser, Page

from testkit.browser import (
    accessible,
    confined,
    interactive,
    keyboard_sign_in,
    screenshot,
    tab_order,
)
from testkit.partner import bearer, inbox_entry, respond, submit
from testkit.runtime import Served

pytestmark = pytest.mark.browser
UHB = bearer("vrp_demo-uhb_demo-only-not-a-secret")
NAVIGATORS = bearer("vrp_demo-navigators_demo-only-not-a-secret")


async def fill_in(page: Page, day: str, clock: str) -> None:
    """Tab to the form's date, type it, Tab to the time, type it, Enter to send."""
    while not await page.evaluate("document.activeElement.id === 'contact-date-1'"):
        await page.keyboard.press("Tab")
    await page.keyboard.type(day)
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.id") == "contact-time-1"
    await page.keyboard.type(clock)
    async with page.expect_navigation():
        await page.keyboard.press("Enter")


async def test_a_team_member_records_the_first_contact_with_the_keyboard(
    system: Served, browser: Browser
) -> None:
    accepted = await submit(system.client, UHB)
    rid, ref = accepted["id"], accepted["reference"]
    entry = await inbox_entry(system.client, rid, NAVIGATORS)
    assert (await respond(system.client, NAVIGATORS, rid, status="accepted")).status_code == 200
    async with confined(browser, str(system.client.base_url)) as box:
        page = await box.context.new_page()
        await page.goto(f"/console/referrals/{rid}")
        await keyboard_sign_in(page, "navigators.member")
        await page.get_by_role("heading", name=f"Referral {ref}").wait_for()
        await page.get_by_role("heading", name="Record the first contact").wait_for()
        await accessible(page)
        reached = await tab_order(page)
        assert set(await interactive(page)) <= set(reached), reached

        tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
        await fill_in(page, tomorrow, "09:00")
        alert = page.get_by_role("alert")
        assert "The first contact is in the future" in await alert.inner_text()
        await accessible(page)
        await screenshot(page, "first-contact-refused")

        at = datetime.now(UTC).replace(second=0, microsecond=0)
        if at < datetime.fromisoformat(entry["received_at"]):
            at += timedelta(minutes=1)  # the offer's own minute, not before it
        await fill_in(page, at.date().isoformat(), at.strftime("%H:%M"))
        assert "The first contact was recorded" in await page.get_by_role("status").inner_text()
        shown = at.strftime("%d %b %Y %H:%M UTC")
        history = page.get_by_role("region", name="History")
        assert f"First contact with the person on {shown}" in await history.inner_text()
        assert await page.get_by_role("heading", name="Record the first contact").count() == 0
        await accessible(page)
        await screenshot(page, "first-contact-recorded")
        assert box.blocked == []
    item = await inbox_entry(system.client, rid, NAVIGATORS)
    assert datetime.fromisoformat(item["first_contact_at"]) == at
