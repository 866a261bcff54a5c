"""/docs (Swagger UI) and /redoc (ReDoc) in headless Chromium with the network limited to
the service: every script, style sheet, font and icon comes from intake itself, and the
operations are rendered (partner networks often block public CDNs)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page

from testkit.browser import confined
from testkit.runtime import Served, runtime_settings, serving, sqlite_url

OPERATIONS = ("/v1/referrals", "/v1/inbox", "/oauth2/token")


@pytest.fixture(scope="module")
async def intake(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Served]:
    tmp: Path = tmp_path_factory.mktemp("docs")
    async with serving(runtime_settings(sqlite_url(tmp), mail_dir=tmp / "mail"), ("intake",)) as s:
        yield s


async def loaded(page: Page, path: str) -> list[str]:
    """Open a page and return the URLs of the same-origin assets it fetched."""
    fetched: list[str] = []
    page.on("requestfinished", lambda request: fetched.append(request.url))
    response = await page.goto(path, wait_until="networkidle")
    assert response is not None and response.status == 200
    return fetched


async def served_icon(page: Page) -> None:
    """The page's favicon is one of the service's own files."""
    icon = await page.locator("link[rel~=icon]").first.get_attribute("href")
    assert icon is not None and icon.startswith("/"), icon
    answer = await page.context.request.get(icon)
    assert answer.status == 200 and answer.headers["content-type"] == "image/png"


@pytest.mark.browser
async def test_swagger_ui_renders_every_operation_from_the_service_alone(
    browser: Browser, intake: Served
) -> None:
    async with confined(browser, str(intake.client.base_url)) as box:
        page = await box.context.new_page()
        fetched = await loaded(page, "/docs")
        await page.locator(".opblock").first.wait_for(timeout=15_000)
        text = await page.locator(".swagger-ui").inner_text()
        for path in OPERATIONS:
            assert path in text
        assert await page.locator(".opblock").count() >= 8
        await served_icon(page)
        assert any(url.endswith(".css") for url in fetched)
        assert box.blocked == [], box.blocked


@pytest.mark.browser
async def test_redoc_renders_every_operation_from_the_service_alone(
    browser: Browser, intake: Served
) -> None:
    async with confined(browser, str(intake.client.base_url)) as box:
        page = await box.context.new_page()
        await loaded(page, "/redoc")
        await page.locator("[data-section-id^='operation/']").first.wait_for(timeout=15_000)
        text = await page.locator("body").inner_text()
        for path in OPERATIONS:
            assert path in text
        assert await page.locator("[data-section-id^='operation/']").count() >= 8
        await served_icon(page)
        assert await page.locator("img[alt='redocly logo']").count() == 0
        assert box.blocked == [], box.blocked
