"""Every console page, as each role that may see it, at desktop and phone width: it answers 200,
axe-core finds no serious or critical violation, and a screenshot is saved (under
.local/screenshots/ or $SCREENSHOT_DIR, not committed). A person without a console role gets the
403 page everywhere, and pages are never cached."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Browser

from tests.browser.conftest import signed_in
from tests.browser.test_now import post_contact
from tests.support.browser import SIZES, ScreenSize, check_accessibility, describe, screenshot
from tests.support.console_system import COORDINATOR, HEAD, NO_ROLE, ConsoleSystem
from tests.support.waiting import eventually

PAGES = {
    "advisor": ["/now", "/tasks", "/cases/{case}", "/tasks/{task}", "/directory"],
    HEAD: [
        "/head",
        "/head/rota",
        "/head/figures",
        "/cases/{case}",
        "/tasks",
        "/directory",
        "/directory/new",
        "/head/calendar-import",
        "/training",
        "/reports",
    ],
    COORDINATOR: ["/now", "/meetings", "/meetings/{meeting}", "/training"],
}
EVERY_PAGE = sorted({page for pages in PAGES.values() for page in pages})


async def first_task_and_meeting(running: ConsoleSystem, case: str) -> dict[str, str]:
    """A task of `case` (casework opens them from the referral event) and the next meeting."""
    headers = {"Authorization": "Bearer test-token-head"}
    async with httpx.AsyncClient(timeout=10) as client:

        async def tasks() -> list[dict[str, str]]:
            answer = await client.get(
                f"{running.live['casework'].url}/v1/cases/{case}/tasks", headers=headers
            )
            found: list[dict[str, str]] = answer.json() if answer.status_code == 200 else []
            return found

        found = await eventually(tasks, bool, 30, "the case's tasks")
        meetings = await client.get(
            f"{running.live['meeting_scheduler'].url}/v1/meetings",
            headers={"Authorization": "Bearer test-token-coordinator"},
        )
        meetings.raise_for_status()
        first = meetings.json()[0]
    return {
        "case": case,
        "task": found[0]["task_id"],
        # The task's advisor (casework may assign it when the case is taken), else either.
        "advisor": found[0].get("assignee") or "advisor-day",
        "meeting": f"{first['series_id']}/{first['starts_at'][:10]}",
    }


@pytest.fixture(scope="module")
async def places(console_system: ConsoleSystem) -> dict[str, str]:
    return await first_task_and_meeting(console_system, await post_contact(console_system))


@pytest.mark.parametrize("size", SIZES, ids=lambda size: size.name)
@pytest.mark.parametrize("person", sorted(PAGES))
async def test_each_page_is_accessible_at_each_width(
    console_system: ConsoleSystem,
    browser: Browser,
    places: dict[str, str],
    person: str,
    size: ScreenSize,
) -> None:
    who = places["advisor"] if person == "advisor" else person
    context, page = await signed_in(browser, console_system, who, size)
    try:
        for template in PAGES[person]:
            path = template.format(**places)
            answer = await page.goto(f"{console_system.console_url}{path}")
            assert answer is not None
            assert answer.status == 200, f"{who} {path}: {answer.status}"
            assert "no-store" in (answer.headers.get("cache-control") or "")
            violations = await check_accessibility(page)
            assert not violations, f"{person} {path} ({size.name}):\n{describe(violations)}"
            name = template.strip("/").replace("/", "-").replace("{", "").replace("}", "")
            await screenshot(page, f"{name}-{person}-{size.name}")
    finally:
        await context.close()


async def test_a_person_without_a_console_role_gets_403_pages(
    console_system: ConsoleSystem, browser: Browser, places: dict[str, str]
) -> None:
    context, page = await signed_in(browser, console_system, NO_ROLE)
    try:
        for template in EVERY_PAGE:
            path = template.format(**places)
            answer = await page.goto(f"{console_system.console_url}{path}")
            assert answer is not None
            assert answer.status == 403, f"{path}: {answer.status}"
            assert await page.get_by_role("heading", name="You do not have access").count() == 1
        assert not await check_accessibility(page)
        await screenshot(page, "forbidden-desktop")
    finally:
        await context.close()
