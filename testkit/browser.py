"""Headless Debian Chromium through Playwright, with the network limited to the service."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, BrowserContext, Page, Route, async_playwright

from testkit.console import DEMO_PASSWORD

CHROMIUM = os.environ.get("VRP_CHROMIUM", "/usr/bin/chromium")
"""The Debian package's executable (deploy/browser.sh installs it)."""


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """One headless Chromium for a test session."""
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            await browser.close()


@dataclass
class Confined:
    """A browser context that may reach only one origin; what else it asked for is kept."""

    context: BrowserContext
    origin: str
    blocked: list[str] = field(default_factory=list)


@asynccontextmanager
async def confined(browser: Browser, base_url: str) -> AsyncIterator[Confined]:
    """A fresh context (own cookies) whose requests to any other origin are aborted."""
    parts = urlsplit(base_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    context = await browser.new_context(base_url=base_url)
    box = Confined(context, origin)

    async def guard(route: Route) -> None:
        url = route.request.url
        if url.startswith(origin + "/") or url == origin or url.startswith("data:"):
            await route.continue_()
        else:
            box.blocked.append(url)
            await route.abort("blockedbyclient")

    await context.route("**/*", guard)
    try:
        yield box
    finally:
        await context.close()


SCREENSHOTS = Path(__file__).resolve().parents[1] / "var" / "screenshots"
"""Where browser tests leave pictures of the pages for a person to look at (git-ignored)."""


async def accessible(page: Page) -> None:
    """Fail with axe-core's report when the page has any accessibility violation."""
    results = await Axe().run(page)
    assert results.violations_count == 0, f"{page.url}\n{results.generate_report()}"


async def screenshot(page: Page, name: str) -> Path:
    """A full-page picture under var/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def keyboard_sign_in(page: Page, username: str, password: str = DEMO_PASSWORD) -> None:
    """Sign in with the keyboard alone, from the sign-in page."""
    await page.keyboard.press("Tab")  # the skip link comes first
    while not await page.evaluate("document.activeElement.id === 'username'"):
        await page.keyboard.press("Tab")
    await page.keyboard.type(username)
    await page.keyboard.press("Tab")
    await page.keyboard.type(password)
    async with page.expect_navigation():
        await page.keyboard.press("Enter")


async def tab_order(page: Page, limit: int = 80) -> list[str]:
    """What Tab reaches, in order, from the top of the page (a description per stop)."""
    await page.evaluate("document.activeElement && document.activeElement.blur()")
    await page.evaluate("window.scrollTo(0, 0)")
    seen: list[str] = []
    for _ in range(limit):
        await page.keyboard.press("Tab")
        here = await page.evaluate(
            "(() => { const e = document.activeElement; if (!e || e === document.body) "
            "return ''; return e.tagName + ':' + (e.name || e.id || e.textContent.trim()); })()"
        )
        if not here or (seen and here == seen[0]):
            break
        seen.append(here)
    return seen


async def interactive(page: Page) -> list[str]:
    """Every control a person can operate on the page, described as tab_order does."""
    return list(
        await page.evaluate(
            "Array.from(document.querySelectorAll('a[href], button, select, "
            "input:not([type=hidden]), textarea')).filter(e => !e.disabled)"
            ".map(e => e.tagName + ':' + (e.name || e.id || e.textContent.trim()))"
        )
    )
