"""Every console journey with the keyboard alone, on a phone-sized screen (375 px wide): sign in
through Keycloak by typing, then only Tab, Shift+Tab, Enter, Space, the arrow keys and typing; no
clicks, and no address typed after the first (links are followed by pressing Enter on them).

- An advisor skips to the content, acknowledges a new alert on "Now" (focus surviving the list's
  polling refresh), and starts a task found through the mobile menu.
- An advisor records an onward referral (organisation, date, method, outcome), closes another task
  as done and hands a third to the other advisor.
- The head of service adds leave and sees the gap on the rota, adds cover and sees it closed, and
  removes both.
- The head of service filters the directory of local services and edits an entry.
- The coordinator moves an agenda item up, defers another, adds any other business and publishes.
- Signing out.

Every step's effect is checked through the services' own APIs, and on each page the focused
control must look focused (tests/browser/keyboard.py)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, time, timedelta
from typing import Any

import httpx
from playwright.async_api import Browser, Page, expect

from shared.clock import LONDON
from tests.browser.keyboard import (
    MANY_TABS,
    assert_focus_visible,
    choose_with_arrows,
    open_from_menu,
    press_and_wait_for,
    sign_in,
    tab_to_name,
    tab_until,
    type_date,
    type_datetime,
)
from tests.browser.test_console_security import replayed_cookie_answer, session_cookie
from tests.browser.test_coordinator import SERIES, agenda, new_items, plan_edits
from tests.browser.test_head import as_shown, gaps, held_by, notifier, on, rota_days, rota_row
from tests.browser.test_now import alert_for, post_contact
from tests.support.browser import PHONE, focused, new_context, tab_to
from tests.support.console_system import ADVISORS, COORDINATOR, HEAD, ConsoleSystem
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


async def next_poll_settled(page: Page, within: float = 15) -> None:
    """Wait until the open-alert list has been fetched and swapped in once more."""
    settled = page.evaluate(
        """() => new Promise((done) => document.body.addEventListener(
            "htmx:afterSettle", (event) => event.detail.elt.id === "open-alerts" && done(true)))"""
    )
    await asyncio.wait_for(settled, within)  # polling is every 2 s in the test system


async def test_an_advisor_acknowledges_and_starts_a_task_by_keyboard_on_a_phone(
    console_system: ConsoleSystem, browser: Browser
) -> None:
    console = console_system.console_url
    context = await new_context(browser, PHONE)
    try:
        page = await context.new_page()
        await sign_in(page, console_system, PERSON)

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
        # An unchanged list is answered 204 and not swapped, so a second contact makes it change
        # (the listener is given half a second to be in place before the contact is sent).
        swapped = asyncio.create_task(next_poll_settled(page, within=30))
        await asyncio.sleep(0.5)
        await post_contact(console_system)
        await swapped
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


async def task_by_id(running: ConsoleSystem, task_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=running.live["casework"].url, timeout=10) as client:
        answer = await client.get(f"/v1/tasks/{task_id}", headers=HEAD_TOKEN)
    answer.raise_for_status()
    found: dict[str, Any] = answer.json()
    return found


async def open_task(page: Page, running: ConsoleSystem, task_id: str) -> None:
    """From any page: the menu, "My tasks", then the task's own link."""
    await open_from_menu(page, running, "My tasks", "/tasks")
    await tab_to_link(page, f"/tasks/{task_id}")
    await assert_focus_visible(page)
    await press_and_wait_for(page, "Enter", f"{running.console_url}/tasks/{task_id}")


async def test_an_advisor_refers_closes_and_reassigns_tasks_by_keyboard_on_a_phone(
    console_system: ConsoleSystem, browser: Browser
) -> None:
    case = await post_contact(console_system)
    # Tasks go to whoever the rota has on duty until someone takes the case; that advisor works
    # them here (the alert is left alone: acknowledging by keyboard is the test above).
    tasks = await eventually(
        lambda: case_tasks(console_system, case),
        lambda found: len(found) == 6 and all(t["assignee"] in ADVISORS for t in found),
        30, f"the tasks of {case} given to the advisor on duty",
    )  # fmt: skip
    advisor = str(tasks[0]["assignee"])
    other = next(person for person in ADVISORS if person != advisor)
    kinds = {task["kind"]: task for task in tasks}
    referred, closed, handed = kinds["legal_advice"], kinds["first_contact"], kinds["interpreter"]
    # Not the form's defaults (today, the first organisation and method), so what is stored must
    # have come from the keys pressed.
    yesterday = datetime.now(LONDON).date() - timedelta(days=1)
    outcome = f"Appointment offered, reference {uuid.uuid4().hex[:6]}"

    context = await new_context(browser, PHONE)
    try:
        page = await context.new_page()
        await sign_in(page, console_system, advisor)

        await open_task(page, console_system, referred["task_id"])
        await tab_until(page, "#organisation")
        await assert_focus_visible(page)
        await choose_with_arrows(page, "legal_aid_provider")
        await tab_until(page, "#referred_on", max_tabs=1)
        await type_date(page, yesterday)
        await tab_until(page, "input[name=method]")  # a radio group is one stop, at its choice
        await choose_with_arrows(page, "email")
        await tab_until(page, "#referral-outcome")
        await page.keyboard.type(outcome)
        await tab_to_name(page, "Record referral", max_tabs=1)
        await assert_focus_visible(page)
        await press_and_wait_for(page, "Enter", f"{console_system.console_url}/tasks/**")
        await expect(page.get_by_text("Referral recorded.")).to_be_visible()
        await expect(page.get_by_test_id("task-status")).to_have_text("referred")
        stored = await task_by_id(console_system, referred["task_id"])
        assert stored["status"] == "referred"
        assert stored["organisation"] == "legal_aid_provider"
        assert stored["referral_method"] == "email"
        assert stored["referred_on"] == yesterday.isoformat()
        assert stored["outcome"] == outcome

        await open_task(page, console_system, closed["task_id"])
        await tab_to_name(page, "Close task as done")
        await press_and_wait_for(page, "Space", f"{console_system.console_url}/tasks/**")
        await expect(page.get_by_text("Task closed.")).to_be_visible()
        await expect(page.get_by_test_id("task-status")).to_have_text("done")
        stored = await task_by_id(console_system, closed["task_id"])
        assert stored["status"] == "done"
        assert stored["closed_at"]

        await open_task(page, console_system, handed["task_id"])
        await tab_until(page, "#person_id")
        await choose_with_arrows(page, other)
        await tab_to_name(page, "Reassign", max_tabs=1)
        await press_and_wait_for(page, "Enter", f"{console_system.console_url}/tasks")
        await expect(page.get_by_text(f"Task reassigned to {other}.")).to_be_visible()
        stored = await task_by_id(console_system, handed["task_id"])
        assert (stored["assignee"], stored["assigned_by"]) == (other, "reassigned")

        # Only the three tasks worked here changed.
        worked = {referred["task_id"], closed["task_id"], handed["task_id"]}
        after = await case_tasks(console_system, case)
        rest = {
            t["task_id"]: (t["status"], t["assignee"]) for t in tasks if t["task_id"] not in worked
        }
        now = {
            t["task_id"]: (t["status"], t["assignee"]) for t in after if t["task_id"] not in worked
        }
        assert now == rest
    finally:
        await context.close()


async def rota_changes_of(running: ConsoleSystem, starts: datetime) -> list[dict[str, Any]]:
    changes: list[dict[str, Any]] = (await notifier(running, "/v1/rota/changes"))["changes"]
    return [c for c in changes if datetime.fromisoformat(c["starts_at"]) == starts]


async def remove_rota_changes(running: ConsoleSystem, starts: datetime) -> None:
    """Take away what a failed run left on the rota, so the other rota tests start clean."""
    async with httpx.AsyncClient(base_url=running.live["notifier"].url, timeout=10) as client:
        for change in await rota_changes_of(running, starts):
            await client.delete(f"/v1/rota/changes/{change['id']}", headers=HEAD_TOKEN)


async def add_rota_change(
    page: Page, running: ConsoleSystem, kind: str, person: str, starts: datetime, ends: datetime
) -> None:
    """The rota form, from the top of the page: radio group, select, two datetime fields."""
    await tab_until(page, "input[name=kind]")
    await choose_with_arrows(page, kind)
    await tab_until(page, "#change-person", max_tabs=1)
    await assert_focus_visible(page)
    await choose_with_arrows(page, person)
    await tab_until(page, "#starts_at", max_tabs=1)
    await type_datetime(page, starts)
    await tab_until(page, "#ends_at")  # past the rest of the start's fields
    await type_datetime(page, ends)
    await tab_to_name(page, "Add to the rota")
    await press_and_wait_for(page, "Enter", f"{running.console_url}/head/rota")


async def test_the_head_of_service_adds_leave_and_cover_by_keyboard_on_a_phone(
    console_system: ConsoleSystem, browser: Browser
) -> None:
    # The day after tomorrow, early afternoon: inside advisor-day's 08:00–20:00 shift
    # (deploy/config/rota.yaml) and clear of the times the other rota tests use.
    day = datetime.now(LONDON).date() + timedelta(days=2)
    starts = datetime.combine(day, time(13), tzinfo=LONDON)
    ends = datetime.combine(day, time(15), tzinfo=LONDON)
    before = await rota_days(console_system)
    assert gaps(on(before, day)) == [], "the shipped rota should have no gap that day"
    assert held_by(on(before, day), starts, ends) == ["advisor-day"]

    context = await new_context(browser, PHONE)
    try:
        page = await context.new_page()
        await sign_in(page, console_system, HEAD)
        await open_from_menu(page, console_system, "Rota", "/head/rota")
        await expect(rota_row(page, day).locator("[data-testid=gap]")).to_have_count(0)

        await add_rota_change(page, console_system, "leave", "advisor-day", starts, ends)
        await expect(page.get_by_text("Leave added for advisor-day")).to_be_visible()
        await expect(rota_row(page, day).locator("[data-testid=gap]")).to_have_text(
            ["Gap 13:00–15:00"]
        )
        after_leave = on(await rota_days(console_system), day)
        assert gaps(after_leave) == [(starts, ends)]
        assert held_by(after_leave, starts, ends) == [None]

        await add_rota_change(page, console_system, "cover", "advisor-night", starts, ends)
        await expect(page.get_by_text("Cover added for advisor-night")).to_be_visible()
        await expect(rota_row(page, day).locator("[data-testid=gap]")).to_have_count(0)
        after_cover = on(await rota_days(console_system), day)
        assert gaps(after_cover) == []
        assert held_by(after_cover, starts, ends) == ["advisor-night"]

        listed = f"{as_shown(starts)} to {as_shown(ends)}"
        for kind, person in (("leave", "advisor-day"), ("cover", "advisor-night")):
            entry = page.get_by_role("listitem").filter(
                has_text=f"{kind.capitalize()}: {person}, {listed}"
            )
            await expect(entry).to_have_count(1)
            await tab_to_name(page, f"Remove {kind} for {person}", max_tabs=MANY_TABS)
            await press_and_wait_for(page, "Enter", f"{console_system.console_url}/head/rota")
            await expect(page.get_by_text("Rota change removed.")).to_be_visible()
            await expect(entry).to_have_count(0)
        assert await rota_changes_of(console_system, starts) == []
        assert await rota_days(console_system) == before
    finally:
        await context.close()
        await remove_rota_changes(console_system, starts)


async def test_the_head_of_service_finds_and_edits_a_directory_entry_by_keyboard_on_a_phone(
    console_system: ConsoleSystem, browser: Browser
) -> None:
    tag = uuid.uuid4().hex[:6]
    entry_id, name = f"interpreters-{tag}", f"Norfolk Interpreters {tag}"
    hours = f"Every day 08:00-22:00 ({tag})"
    async with httpx.AsyncClient(base_url=console_system.live["casework"].url) as client:
        made = await client.put(
            f"/v1/directory/{entry_id}", headers=HEAD_TOKEN, timeout=10,
            json={"name": name, "needs": ["interpreter"], "districts": ["norwich"],
                  "how_to_refer": [{"method": "email", "contact": "book@interpret.example"}],
                  "review_date": "2030-01-31"},
        )  # fmt: skip
        assert made.status_code == 201, made.text
    console = console_system.console_url
    context = await new_context(browser, PHONE)
    try:
        page = await context.new_page()
        await sign_in(page, console_system, HEAD)
        await open_from_menu(page, console_system, "Directory", "/directory")
        await tab_until(page, "#filter-need")
        await assert_focus_visible(page)
        await choose_with_arrows(page, "interpreter")
        await tab_until(page, "#filter-district", max_tabs=1)
        await choose_with_arrows(page, "norwich")
        await tab_to_name(page, "Show organisations")
        await press_and_wait_for(page, "Enter", f"{console}/directory?**")
        await tab_to_name(page, f"Edit {name}")
        await assert_focus_visible(page)
        await press_and_wait_for(page, "Enter", f"{console}/directory/{entry_id}/edit")
        await tab_until(page, "#opening_hours")
        await assert_focus_visible(page)
        await page.keyboard.type(hours)
        await tab_to_name(page, "Save entry")
        await press_and_wait_for(page, "Enter", f"{console}/directory")
        await expect(page.get_by_text(f"Saved: {name}.")).to_be_visible()
        async with httpx.AsyncClient(base_url=console_system.live["casework"].url) as client:
            stored = await client.get(f"/v1/directory/{entry_id}", headers=HEAD_TOKEN, timeout=10)
        assert (stored.json()["opening_hours"], stored.json()["updated_by"]) == (hours, HEAD)
    finally:
        await context.close()
        async with httpx.AsyncClient(base_url=console_system.live["casework"].url) as client:
            await client.delete(f"/v1/directory/{entry_id}", headers=HEAD_TOKEN, timeout=10)


async def test_the_coordinator_reorders_defers_adds_and_publishes_by_keyboard_on_a_phone(
    console_system: ConsoleSystem, browser: Browser
) -> None:
    plan = await plan_edits(console_system, 2)
    day, next_day, before = plan.day, plan.next_day, plan.before
    moved, deferred = plan.moved, plan.deferred
    after_move, expected = plan.after_move, plan.expected
    aob = f"Room booking for the next panel ({uuid.uuid4().hex[:6]})"
    agenda_url = f"{console_system.console_url}/meetings/{SERIES}/{day}"

    context = await new_context(browser, PHONE)
    try:
        page = await context.new_page()
        await sign_in(page, console_system, COORDINATOR)
        await open_from_menu(page, console_system, "Meetings", "/meetings")
        await tab_to_link(page, f"/meetings/{SERIES}/{day}")
        await assert_focus_visible(page)
        await press_and_wait_for(page, "Enter", agenda_url)

        await tab_to_name(page, f"Move up {moved}", max_tabs=MANY_TABS)
        await assert_focus_visible(page)
        await press_and_wait_for(page, "Enter", agenda_url)
        await expect(page.get_by_text(f"{moved} moved up.")).to_be_visible()
        assert [c for c in await new_items(console_system, day) if c in before] == after_move

        await tab_to_name(page, f"Defer {deferred} to the next meeting", max_tabs=MANY_TABS)
        await press_and_wait_for(page, "Enter", agenda_url)
        await expect(page.get_by_text(f"{deferred} deferred to the next meeting.")).to_be_visible()
        assert [c for c in await new_items(console_system, day) if c in before] == expected
        assert deferred in await new_items(console_system, next_day)

        await tab_until(page, "#aob")
        await page.keyboard.type(aob)
        await press_and_wait_for(page, "Enter", agenda_url)  # Enter in a text field submits
        await expect(page.get_by_text("Added under any other business.")).to_be_visible()
        assert {"text": aob, "added_by": COORDINATOR} in (await agenda(console_system, day))[
            "other_business"
        ]

        await tab_to_name(page, "Publish agenda", max_tabs=MANY_TABS)
        await press_and_wait_for(page, "Enter", agenda_url)
        await expect(page.get_by_text("Agenda published.")).to_be_visible()
        published = await agenda(console_system, day)
        assert published["published"]
        assert not published["changed_since_publication"]
        assert [c["case_reference"] for c in published["new_items"]
                if c["case_reference"] in before] == expected  # fmt: skip
    finally:
        await context.close()


async def test_signing_out_by_keyboard_on_a_phone(
    console_system: ConsoleSystem, browser: Browser
) -> None:
    context = await new_context(browser, PHONE)
    try:
        page = await context.new_page()
        await sign_in(page, console_system, "advisor-night")
        cookie = await session_cookie(context, console_system)
        assert cookie is not None
        await tab_to_name(page, "Sign out", max_tabs=MANY_TABS)
        await assert_focus_visible(page)
        await press_and_wait_for(page, "Enter", f"{console_system.console_url}/signed-out")
        await expect(page.get_by_role("heading", name="You are signed out")).to_be_visible()
        assert await session_cookie(context, console_system) is None
        replayed = await replayed_cookie_answer(console_system, str(cookie["value"]))
        assert replayed.status_code == 303  # the old session opens nothing any more
        # "Sign in again" is reachable too, and leads back to the provider's form.
        await tab_to_name(page, "Sign in again")
        await assert_focus_visible(page)
        await press_and_wait_for(page, "Enter", f"{console_system.provider.issuer}/**")
    finally:
        await context.close()
