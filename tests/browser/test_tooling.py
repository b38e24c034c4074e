"""The browser-test tooling itself, on two tiny pages served like the console serves its own:
GOV.UK Frontend's CSS and fonts from the fetched npm packages, behind a strict
Content-Security-Policy. The accessibility check must pass a good page and catch a bad one, and
keyboard navigation must find a button or say where focus went instead."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn
from playwright.async_api import Browser
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from deploy.frontend import FrontendError, asset_paths, frontend_dir
from deploy.keycloak import free_ports_below_32768
from tests.support.browser import (
    SIZES,
    ScreenSize,
    check_accessibility,
    chromium,
    describe,
    new_context,
    screenshot,
    tab_to,
)

GOOD_PAGE = """<!DOCTYPE html>
<html lang="en" class="govuk-template">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Record a contact – Safeguarding</title>
  <link rel="stylesheet" href="/govuk/govuk-frontend.min.css">
</head>
<body class="govuk-template__body">
  <a href="#main-content" class="govuk-skip-link">Skip to main content</a>
  <div class="govuk-width-container">
    <main class="govuk-main-wrapper" id="main-content">
      <h1 class="govuk-heading-l">Record a contact</h1>
      <form method="post" action="/good">
        <div class="govuk-form-group">
          <label class="govuk-label" for="reference">Police reference</label>
          <input class="govuk-input" id="reference" name="reference" type="text">
        </div>
        <button type="submit" class="govuk-button" data-module="govuk-button">Continue</button>
      </form>
    </main>
  </div>
</body>
</html>"""

# Two faults axe rates critical: an image with no text alternative and an unlabelled input.
BAD_PAGE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Bad page</title></head>
<body>
  <main>
    <h1>Bad page</h1>
    <img src="/govuk/assets/images/govuk-crest.svg">
    <input type="text" name="reference">
  </main>
</body>
</html>"""


async def _page(request: Request) -> HTMLResponse:
    body = GOOD_PAGE if request.url.path == "/good" else BAD_PAGE
    # No inline script is allowed, as in the console, so the axe check must work under this CSP.
    return HTMLResponse(body, headers={"Content-Security-Policy": "default-src 'self'"})


@pytest.fixture(scope="module")
async def site() -> AsyncIterator[str]:
    """The two pages and GOV.UK Frontend's files, on 127.0.0.1 until the module ends."""
    govuk = asset_paths().govuk_dist
    app = Starlette(
        routes=[
            Route("/good", _page),
            Route("/bad", _page),
            # The compiled CSS asks for its fonts and images under /assets/.
            Mount("/assets", StaticFiles(directory=govuk / "assets")),
            Mount("/govuk", StaticFiles(directory=govuk)),
        ]
    )
    (port,) = free_ports_below_32768(1)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 10
    while not server.started:
        if task.done() or time.monotonic() > deadline:
            raise RuntimeError(f"the test site did not start on port {port}")
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as running:
        yield running


@pytest.mark.browser
@pytest.mark.parametrize("size", SIZES, ids=lambda size: size.name)
async def test_a_good_page_passes_and_its_button_is_reached_by_keyboard(
    site: str, browser: Browser, size: ScreenSize
) -> None:
    context = await new_context(browser, size)
    try:
        page = await context.new_page()
        response = await page.goto(f"{site}/good")
        assert response is not None
        assert response.ok
        # GOV.UK Frontend's stylesheet really applied (its green button), so the packages were
        # served from the cache and the screenshot shows the real look.
        colour = await page.locator("button").evaluate("b => getComputedStyle(b).backgroundColor")
        assert colour == "rgb(0, 112, 60)"

        violations = await check_accessibility(page)
        assert violations == [], describe(violations)

        shot = await screenshot(page, f"tooling-good-{size.name}")
        assert shot.stat().st_size > 1000

        button = await tab_to(page, "Continue")
        assert await button.evaluate("b => b.tagName") == "BUTTON"
    finally:
        await context.close()


@pytest.mark.browser
async def test_a_bad_page_fails_the_accessibility_check(site: str, browser: Browser) -> None:
    context = await new_context(browser, SIZES[0])
    try:
        page = await context.new_page()
        await page.goto(f"{site}/bad")
        violations = {v["id"]: v for v in await check_accessibility(page)}
        assert {"image-alt", "label"} <= set(violations), describe(list(violations.values()))
        assert violations["image-alt"]["impact"] == "critical"
        assert violations["image-alt"]["targets"] == ["img"]
        assert violations["label"]["targets"] == ["input"]
        await screenshot(page, "tooling-bad-desktop")
    finally:
        await context.close()


@pytest.mark.browser
async def test_tab_to_says_where_focus_went_when_the_name_is_never_reached(
    site: str, browser: Browser
) -> None:
    context = await new_context(browser, SIZES[0])
    try:
        page = await context.new_page()
        await page.goto(f"{site}/good")
        with pytest.raises(AssertionError) as failure:
            await tab_to(page, "Delete everything", max_tabs=3)
        route = 'link "Skip to main content" → textbox "Police reference" → button "Continue"'
        assert route in str(failure.value)
    finally:
        await context.close()


def test_a_missing_fetch_is_reported_with_the_command_to_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAFEGUARDING_CACHE", str(tmp_path))
    with pytest.raises(FrontendError, match=r"run: python -m deploy\.frontend fetch"):
        frontend_dir()
