"""An advisor on a phone-sized screen using the keyboard alone: sign in through Keycloak, skip to
the content, acknowledge a new alert on "Now" (focus surviving the list's polling refresh), then
open the mobile menu, find the case's task under "My tasks" and start it. Every step's effect is
checked through the services' own APIs."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from playwright.async_api import Browser, Page, expect

from deploy.keycloak import dev_password
from tests.browser.test_now import alert_for, post_contact
from tests.support.browser import PHONE, focused, new_context, tab_to
from tests.support.console_system import ConsoleSystem
from tests.support.waiting import eventually

HEAD_TOKEN = {"Authorization": "Bearer test-token-head"}  # casework's static test token
PERSON = "advisor-day"


async def case_tasks(running: ConsoleSystem, case: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=running.live["casework"].url, timeout=10) as client:
        answer = await client.get(f"/v1/cases/{case}/tasks", headers=HEAD_TOKEN)
    if answer.status_code != 200:
        return []
    found: list[dict[str, Any]] = answer.json()
    return found


async def focused_name(page: Page) -> str:
    _, _, name = await focused(page)
    return " ".join(name.split())


async def tab_to_link(page: Page, href: str, max_tabs: int = 300) -> None:
    """Press Tab until the link to `href` has focus (task links share names: "Welfare check")."""
    for _ in range(max_tabs):
        await page.keyboard.press("Tab")
        if await page.evaluate("() => document.activeElement?.getAttribute('href')") == href:
            return
    raise AssertionError(f"{max_tabs} presses of Tab never reached the link to {href}")


async def next_poll_settled(page: Page) -> None:
    """Wait until the open-alert list has been fetched and swapped in once more."""
    settled = page.evaluate(
        """() => new Promise((done) => document.body.addEventListener(
            "htmx:afterSettle", (event) => event.detail.elt.id === "open-alerts" && done(true)))"""
    )
    await asyncio.wait_for(settled, 15)  # polling is every 2 s in the test system


async def test_an_advisor_acknowledges_and_starts_a_task_by_keyboard_on_a_phone(
    console_system: ConsoleSystem, browser: Browser
) -> None:
    console = console_system.console_url
    context = await new_context(browser, PHONE)
    try:
        page = await context.new_page()
        await page.goto(f"{console}/now")
        await page.wait_for_url(f"{console_system.provider.issuer}/**")
        if await page.evaluate("() => document.activeElement?.id") != "username":
            await tab_to(page, "Username or email")
        await page.keyboard.type(PERSON)
        await tab_to(page, "Password")
        await page.keyboard.type(dev_password(PERSON))
        await page.keyboard.press("Enter")
        await page.wait_for_url(f"{console}/now")
        await expect(page.get_by_text(f"Signed in as {PERSON}")).to_be_visible()

        # The skip link is the first stop, and it moves focus past the header and menu.
        await page.keyboard.press("Tab")
        assert await focused_name(page) == "Skip to main content"
        await page.keyboard.press("Enter")
        assert await page.evaluate("() => document.activeElement?.id") == "main-content"

        case = await post_contact(console_system)
        await expect(page.locator(f"tr:has-text('{case}')")).to_be_visible(timeout=30_000)
        alert_id = str((await alert_for(console_system, case))["alert_id"])
        button = f"Acknowledge alert for {case}"
        await tab_to(page, button, max_tabs=300)
        # The list refreshes itself every few seconds; a keyboard user's place must survive it.
        await next_poll_settled(page)
        assert await focused_name(page) == button, "focus was lost when the alert list refreshed"
        await page.keyboard.press("Enter")
        await expect(page.get_by_text("Alert acknowledged")).to_be_visible()
        alert = await alert_for(console_system, case)
        assert alert["alert_id"] == alert_id
        assert alert["status"] == "acknowledged"
        assert alert["acknowledged_by"] == PERSON

        # Casework hands the case's tasks to whoever acknowledged its alert.
        tasks = await eventually(
            lambda: case_tasks(console_system, case),
            lambda found: bool(found) and all(t["assignee"] == PERSON for t in found),
            30, f"the tasks of {case} assigned to {PERSON}",
        )  # fmt: skip
        task = next(t for t in tasks if t["status"] == "open")

        # At phone width the menu is behind its toggle button.
        await tab_to(page, "Menu")
        await page.keyboard.press("Enter")
        await tab_to(page, "My tasks")
        await page.keyboard.press("Enter")
        await page.wait_for_url(f"{console}/tasks")
        await tab_to_link(page, f"/tasks/{task['task_id']}")
        await page.keyboard.press("Enter")
        await page.wait_for_url(f"{console}/tasks/{task['task_id']}")
        await tab_to(page, "Start task")
        await page.keyboard.press("Enter")
        await expect(page.get_by_text("Task started.")).to_be_visible()
        await expect(page.get_by_test_id("task-status")).to_have_text("in progress")

        started = next(t for t in await case_tasks(console_system, case)
                       if t["task_id"] == task["task_id"])  # fmt: skip
        assert started["status"] == "in_progress"
        assert started["assignee"] == PERSON
        before = {t["task_id"]: t["status"] for t in tasks if t["task_id"] != task["task_id"]}
        after = {t["task_id"]: t["status"] for t in await case_tasks(console_system, case)
                 if t["task_id"] != task["task_id"]}  # fmt: skip
        assert after == before  # only the task started by keyboard changed
    finally:
        await context.close()
