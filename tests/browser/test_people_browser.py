"""The people's loop in headless Chromium: a team reads a referral without a code book and
responds; the referrer follows the link in their status email (a real SMTP server on
loopback), signs in with the keyboard and sees what happened, in words; another
organisation's referral is not found. axe-core on every page; pictures in var/screenshots/."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser

from testkit.browser import accessible, confined, keyboard_sign_in, screenshot
from testkit.partner import bearer, inbox_entry, submit, wait_status
from testkit.runtime import Served
from testkit.smtp import SmtpServer

pytestmark = pytest.mark.browser
UHB = bearer("vrp_demo-uhb_demo-only-not-a-secret")
WMP = bearer("vrp_demo-wmp_demo-only-not-a-secret")
NAVIGATORS = bearer("vrp_demo-navigators_demo-only-not-a-secret")
NAV = "Hospital Youth Violence Navigators (fictional charity)"
LINK = re.compile(r"Open it here: (\S+)")


async def link_in_status_email(smtp: SmtpServer, reference: str, words: str) -> str:
    """The link in the referrer's status email about `reference` that says `words`."""

    def found() -> str | None:
        for m in smtp.mailbox.for_reference(reference, kind="status"):
            raw = m.get_payload(decode=True)
            assert isinstance(raw, bytes)
            body = raw.decode()
            link = LINK.search(body)
            if words in body and link:
                return link.group(1)
        return None

    assert await smtp.mailbox.until(lambda _: found() is not None, 10)
    link = found()
    assert link is not None
    return link


async def test_the_referrer_follows_their_status_email_to_the_timeline(
    system: Served, smtp: SmtpServer, browser: Browser
) -> None:
    sent = await submit(system.client, UHB)
    rid, ref = sent["id"], sent["reference"]
    theirs = await submit(system.client, WMP)
    await inbox_entry(system.client, rid, NAVIGATORS)
    await wait_status(system.client, sent["status_url"], UHB, ["routed", "alert-sent"])
    base = str(system.client.base_url)
    async with confined(browser, base) as box:
        page = await box.context.new_page()
        await page.goto("/console/inbox")
        await keyboard_sign_in(page, "navigators.member")
        await page.get_by_role("heading", name="Inbox").wait_for()
        assert NAV in await page.locator(".lead").inner_text()
        high = page.locator(".tag-risk-high").first
        assert await high.text_content() == "High risk"  # words, not colour alone
        await accessible(page)
        await screenshot(page, "inbox")
        await page.get_by_role("link", name=ref).click()
        await page.get_by_role("heading", name="History").wait_for()
        await accessible(page)
        await screenshot(page, "referral")
        await page.get_by_role("button", name="Accept").click()
        await page.get_by_role("status").wait_for()
        assert box.blocked == []
    link = await link_in_status_email(smtp, ref, "was accepted for")
    assert link == f"{base}/console/sent/{rid}"
    async with confined(browser, base) as box:
        page = await box.context.new_page()
        await page.goto(link)
        assert (await page.title()).startswith("Sign in")
        await keyboard_sign_in(page, "uhb.referrer")
        assert page.url == link  # straight to the referral after signing in
        await page.get_by_role("heading", name=f"Referral {ref}").wait_for()
        timeline = await page.locator(".timeline").inner_text()
        assert "Routed to" in timeline and f"at {NAV}" in timeline
        assert f"Accepted by {NAV}" in timeline
        assert "Fictional" not in await page.content()  # the person's details stay theirs
        await accessible(page)
        await screenshot(page, "referrer-referral")
        await page.get_by_role("link", name="Referrals we sent", exact=True).click()
        await page.get_by_role("heading", name="Referrals we sent").wait_for()
        assert theirs["reference"] not in await page.content()
        await accessible(page)
        await screenshot(page, "referrer-sent")
        response = await page.goto(f"/console/sent/{theirs['id']}")
        assert response is not None and response.status == 404
        await page.get_by_role("heading", name="Page not found").wait_for()
        assert box.blocked == []
