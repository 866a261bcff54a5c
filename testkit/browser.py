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
