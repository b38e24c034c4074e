"""Lists the console cuts at the notifier's largest page say so, in the browser: with more than 200
open alerts, Now and the head's overview say how many older ones they leave out, and a case with
more than 200 alerts says the same on its timeline. Each page with its notice is checked by
axe-core at desktop and phone width and a screenshot is saved. The alerts are written straight
into the running notifier's database (open, with no escalation steps, so nothing is paged) and
removed afterwards, so the other browser tests see the system as before."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from playwright.async_api import Browser, expect

from services.notifier.adapters.tables import alerts
from shared.db import create_engine
from tests.browser.conftest import signed_in
from tests.support.browser import SIZES, ScreenSize, check_accessibility, describe, screenshot
from tests.support.console_system import HEAD, ConsoleSystem
from tests.support.live import ENV_PREFIX

CASE = "MS-2026-CUT001"
RAISED = 203  # three past the 200 the console lists


@pytest.fixture(scope="module")
async def many_alerts(console_system: ConsoleSystem) -> AsyncIterator[None]:
    url = console_system.live["notifier"].env[f"{ENV_PREFIX['notifier']}_DATABASE_URL"]
    engine = create_engine(url)
    now = datetime.now(UTC)
    rows = [
        {"alert_id": f"cut-{n}", "kind": "referral", "subject_key": f"{CASE}#{n}",
         "case_reference": CASE, "urgency": "standard", "status": "open", "fields": "{}",
         "correlation_id": f"cut-{n}", "raised_at": now - timedelta(minutes=RAISED - n)}
        for n in range(RAISED)
    ]  # fmt: skip
    try:
        async with engine.begin() as connection:
            await connection.execute(alerts.insert(), rows)
        yield
    finally:
        async with engine.begin() as connection:
            await connection.execute(sa.delete(alerts).where(alerts.c.alert_id.like("cut-%")))
        await engine.dispose()


def backend_lines(running: ConsoleSystem) -> str:
    """The console's log lines about its calls to the services: why a page was not 200."""
    lines = running.console_log.read_text(errors="replace").splitlines()
    return "\n".join(line for line in lines if "backend_" in line)[-4000:]


@pytest.mark.parametrize("size", SIZES, ids=lambda size: size.name)
async def test_cut_lists_say_how_many_they_leave_out(
    console_system: ConsoleSystem, browser: Browser, many_alerts: None, size: ScreenSize
) -> None:
    context, page = await signed_in(browser, console_system, HEAD, size)
    try:
        pages = {
            "/now": ("alerts-not-shown", "older open alerts are not listed"),
            "/head": ("alerts-not-shown", "older open alerts are not listed"),
            f"/cases/{CASE}": ("case-alerts-not-listed", "3 older alerts about this case"),
        }
        for path, (test_id, words) in pages.items():
            answer = await page.goto(f"{console_system.console_url}{path}")
            assert answer is not None
            assert answer.status == 200, f"{path}: {answer.status}\n{backend_lines(console_system)}"
            notice = page.get_by_test_id(test_id)
            await expect(notice).to_be_visible()
            await expect(notice).to_contain_text(words)
            violations = await check_accessibility(page)
            assert not violations, f"{path} ({size.name}):\n{describe(violations)}"
            name = path.strip("/").replace("/", "-")
            await screenshot(page, f"cut-{name}-{size.name}")
    finally:
        await context.close()
