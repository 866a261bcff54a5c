"""The hub coordinator in headless Chromium: following an escalation email and an
undelivered-alert email to the referral's page and acting on it (keyboard where it
matters), hand routing refused up front when the service is full, and a routing the router
refuses shown as held again. axe-core on every page; pictures in var/screenshots/."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page

from testkit.alerting import SECRET_ENV, MovableClock, alerting_config
from testkit.browser import accessible, confined, keyboard_sign_in, screenshot
from testkit.hub import (
    HELD,
    NAVIGATORS,
    TEAM,
    UHB,
    WAIT,
    escalated,
    hub_alert,
    link_in,
    small_config,
)
from testkit.notify import NotifyStandIn
from testkit.partner import inbox_entry, submit, wait_status
from testkit.referrals import example
from testkit.runtime import runtime_settings, serving, sqlite_url
from testkit.smtp import SmtpServer
from testkit.webhooks import WebhookReceiver, new_secret

pytestmark = pytest.mark.browser


async def press(page: Page, text: str) -> None:
    """Tab to the button whose text starts with `text`, and press Enter (keyboard only)."""
    script = f"(document.activeElement.textContent || '').trim().startsWith({text!r})"
    for _ in range(80):
        if await page.evaluate(script):
            break
        await page.keyboard.press("Tab")
    else:
        raise AssertionError(f"Tab never reached {text!r}")
    async with page.expect_navigation():
        await page.keyboard.press("Enter")


async def test_the_hub_follows_an_escalation_email_and_chases_the_team(
    tmp_path: Path, smtp: SmtpServer, browser: Browser
) -> None:
    clock = MovableClock()
    settings = runtime_settings(sqlite_url(tmp_path), smtp=smtp)
    async with serving(settings, clock=clock) as s:
        accepted = await escalated(s, smtp, clock)
        ref = accepted["reference"]
        link = link_in(await hub_alert(smtp, ref, "escalation"))
        reminders = len(smtp.mailbox.for_reference(ref, "reminder"))
        async with confined(browser, str(s.client.base_url)) as box:
            page = await box.context.new_page()
            await page.goto(link)
            await keyboard_sign_in(page, "hub.coordinator")
            assert page.url == link  # straight to the referral after signing in
            await page.get_by_role("heading", name=f"Referral {ref}").wait_for()
            assert "Escalated to the hub" in await page.content()
            await accessible(page)
            await screenshot(page, "hub-referral")
            await press(page, "Send Hospital Youth Violence Navigators")
            said = await page.get_by_role("status").inner_text()
            assert "reminder to the team" in said
            await accessible(page)
            await page.goto("/console/triage")
            row = page.get_by_role("row").filter(has_text=ref)
            assert "escalated" in await row.inner_text() and "waiting" in await row.inner_text()
            await accessible(page)
            await screenshot(page, "triage-list")
            assert box.blocked == []
        mailbox = smtp.mailbox
        assert await mailbox.until(
            lambda _: len(mailbox.for_reference(ref, "reminder")) == reminders + 1, WAIT
        )


@pytest.fixture
def hooks(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[WebhookReceiver, NotifyStandIn]]:
    secret = new_secret()
    monkeypatch.setenv(SECRET_ENV, secret)
    with WebhookReceiver([secret]) as receiver, NotifyStandIn() as notify:
        yield receiver, notify


async def test_the_hub_follows_a_delivery_failure_email_and_enables_the_webhook(
    tmp_path: Path,
    smtp: SmtpServer,
    browser: Browser,
    hooks: tuple[WebhookReceiver, NotifyStandIn],
) -> None:
    receiver, notify = hooks
    receiver.respond_with([410])
    settings = runtime_settings(
        sqlite_url(tmp_path),
        smtp=smtp,
        config_dir=alerting_config(tmp_path, notify, receiver.url),
        notify_api_key=notify.api_key(),
        notify_base_url=notify.url,
    )
    async with serving(settings) as s:
        accepted = await submit(s.client, UHB)
        ref = accepted["reference"]
        link = link_in(await hub_alert(smtp, ref, "delivery-failed"))
        async with confined(browser, str(s.client.base_url)) as box:
            page = await box.context.new_page()
            await page.goto(link)
            await keyboard_sign_in(page, "hub.coordinator")
            await page.get_by_role("heading", name=f"Referral {ref}").wait_for()
            assert "An alert could not be delivered" in await page.content()
            await accessible(page)
            await press(page, "Enable Hospital Youth Violence Navigators")
            assert "enabled again" in await page.get_by_role("status").inner_text()
            await accessible(page)
            assert box.blocked == []
        assert await receiver.until(lambda got: any(d.status == 204 for d in got), WAIT)


async def test_hand_routing_to_a_full_service_is_refused_before_anything_is_asked(
    tmp_path: Path, smtp: SmtpServer, browser: Browser
) -> None:
    settings = runtime_settings(
        sqlite_url(tmp_path), smtp=smtp, config_dir=small_config(tmp_path, capacity=1)
    )
    async with serving(settings) as s:
        taken = await submit(s.client, UHB)
        await inbox_entry(s.client, taken["id"], NAVIGATORS)
        held = await submit(s.client, UHB, body=example(**HELD))
        await wait_status(s.client, held["status_url"], UHB, until=lambda x: x["status"] == "held")
        async with confined(browser, str(s.client.base_url)) as box:
            page = await box.context.new_page()
            await page.goto(f"/console/triage/{held['id']}")
            await keyboard_sign_in(page, "hub.coordinator")
            option = page.locator(f"#intervention option[value='{TEAM}']")
            assert "not permitted, full (no places left)" in await option.inner_text()
            await page.get_by_label("Intervention").select_option(TEAM)
            await page.get_by_label("Justification").select_option("professional-judgement")
            await page.get_by_role("button", name="Route").click()
            refusal = await page.get_by_role("alert").inner_text()
            assert "not permitted" in refusal and "full (no places left)" in refusal
            await accessible(page)
            assert box.blocked == []


async def test_a_routing_the_router_refuses_is_shown_held_again_with_its_reasons(
    tmp_path: Path, smtp: SmtpServer, browser: Browser
) -> None:
    settings = runtime_settings(
        sqlite_url(tmp_path), smtp=smtp, config_dir=small_config(tmp_path, capacity=1)
    )
    async with serving(settings) as s:
        held = await submit(s.client, UHB, body=example(**HELD))
        await wait_status(s.client, held["status_url"], UHB, until=lambda x: x["status"] == "held")
    # The router is away while another referral that will take the last place arrives and
    # the hub routes the held one by hand (permitted: the place is still free).
    async with serving(settings, roles=("intake",)) as s:
        taker = await submit(s.client, UHB)
        async with confined(browser, str(s.client.base_url)) as box:
            page = await box.context.new_page()
            await page.goto(f"/console/triage/{held['id']}")
            await keyboard_sign_in(page, "hub.coordinator")
            await page.get_by_label("Intervention").select_option(TEAM)
            await page.get_by_label("Justification").select_option("professional-judgement")
            await page.get_by_role("button", name="Route").click()
            said = await page.get_by_role("status").inner_text()
            assert "Routing requested, waiting for the router" in said
            await accessible(page)
    # The router is back: it routes the other referral first, then refuses the offer.
    async with serving(settings) as s:
        await inbox_entry(s.client, taker["id"], NAVIGATORS)
        async with confined(browser, str(s.client.base_url)) as box:
            page = await box.context.new_page()
            await page.goto(f"/console/triage/{held['id']}?done=routed")
            await keyboard_sign_in(page, "hub.coordinator")
            deadline = asyncio.get_running_loop().time() + WAIT
            while "waiting for the router" in (
                said := await page.get_by_role("status").inner_text()
            ):
                assert asyncio.get_running_loop().time() < deadline, said
                await page.get_by_role("link", name="Check again").click()
            assert "Held again" in said
            assert "full (no places left)" in await page.content()
            await accessible(page)
            assert box.blocked == []
