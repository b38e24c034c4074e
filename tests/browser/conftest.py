"""One running system with the console (tests/support/console_system.py) and one Chromium for
the browser tests: started when the first browser test asks for them and stopped after the last
one in this package (package scope), so their pollers do not load the machine for the rest of the
suite."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from deploy.keycloak import LocalKeycloak, dev_password
from shared.kafka import ensure_topics
from tests.support.browser import DESKTOP, ScreenSize, chromium, new_context
from tests.support.console_system import ConsoleSystem, start_console_system

pytestmark = pytest.mark.browser


@pytest.fixture(scope="package")
async def console_system(
    oidc_provider: LocalKeycloak, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ConsoleSystem]:
    prefix = f"t{uuid.uuid4().hex[:10]}."
    await ensure_topics(kafka_bootstrap, prefix)
    running = await start_console_system(
        oidc_provider, kafka_bootstrap, prefix, tmp_path_factory.mktemp("console")
    )
    try:
        yield running
    finally:
        await running.close()


@pytest.fixture(scope="package")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as running:
        yield running


async def signed_in(
    browser: Browser, system: ConsoleSystem, person: str, size: ScreenSize = DESKTOP
) -> tuple[BrowserContext, Page]:
    """A fresh browser context signed in as `person` through Keycloak's own login form."""
    context = await new_context(browser, size)
    page = await context.new_page()
    await page.goto(f"{system.console_url}/now")
    await page.locator("#username").fill(person)
    await page.locator("#password").fill(dev_password(person))
    await page.locator("#kc-login").click()
    await page.wait_for_url(f"{system.console_url}/**")
    await expect(page.get_by_text(f"Signed in as {person}")).to_be_visible()
    return context, page
