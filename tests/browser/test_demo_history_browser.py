"""The dashboard of a demo seeded with two years of history (`vrp demo seed`), in headless
Chromium: an IG lead signs in with the keyboard and finds every figure shown, none
suppressed, on a page axe-core finds no fault with."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser

from services.history.seed import seed
from testkit.browser import accessible, confined, keyboard_sign_in, screenshot
from testkit.runtime import Served

pytestmark = pytest.mark.browser


async def test_a_seeded_demo_dashboard_shows_every_figure(system: Served, browser: Browser) -> None:
    runtime = system.runtime
    key = runtime.settings.pseudonym_key.get_secret_value().encode()
    seeded = await seed(runtime.db, runtime.config(), key)
    print(f"seeded {seeded.referrals} referrals in {seeded.seconds:.1f} s")
    async with confined(browser, str(system.client.base_url)) as box:
        page = await box.context.new_page()
        await page.goto("/console/dashboard")
        await keyboard_sign_in(page, "ig.lead")
        await page.get_by_role("heading", name="Dashboard", exact=True).wait_for()
        total = page.locator("#total-referrals")
        assert await total.inner_text() == str(seeded.referrals)
        # The marker appears once, in the note explaining it; no figure or bar carries it.
        sections = page.locator("main section")
        assert await sections.count() >= 7
        for i in range(await sections.count()):
            text = await sections.nth(i).inner_text()
            assert "suppressed" not in text and "too few" not in text, text[:200]
        assert await page.locator("main svg text", has_text="suppressed").count() == 0
        await accessible(page)
        await screenshot(page, "dashboard")
        assert box.blocked == []
