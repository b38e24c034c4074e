"""Onward referral records on a need task and the training sessions page, in the browser:

- The case's advisor adds a referral to the organisation the directory suggests for a legal
  advice task (a badly written name for one not in the directory is refused first, beside its
  field, in words), then records it declined with a reason from the list; the page lists it
  with its outcome and offers no further change, and casework holds exactly that history.
- The coordinator opens Training from the menu, adds a session held yesterday, records its
  attendance, and sees the pace move: one more awaiting attendance, then one more held; the
  scheduler holds the session as held with that number.

Every effect is checked in the services' own APIs; axe-core checks each page as it changes."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

import httpx
from playwright.async_api import Browser, expect

from shared.clock import LONDON
from tests.browser.conftest import signed_in
from tests.browser.test_directory_and_support import accessible, case_tasks
from tests.browser.test_now import post_contact
from tests.support.console_system import ADVISORS, COORDINATOR, ConsoleSystem
from tests.support.waiting import eventually

HEAD_TOKEN = {"Authorization": "Bearer test-token-head"}
COORDINATOR_TOKEN = {"Authorization": "Bearer test-token-coordinator"}


async def casework(running: ConsoleSystem, path: str) -> Any:
    async with httpx.AsyncClient(base_url=running.live["casework"].url, timeout=10) as client:
        answer = await client.get(path, headers=HEAD_TOKEN)
    answer.raise_for_status()
    return answer.json()


async def training(running: ConsoleSystem) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=running.live["meeting_scheduler"].url) as client:
        answer = await client.get("/v1/training-sessions", headers=COORDINATOR_TOKEN, timeout=10)
    answer.raise_for_status()
    found: dict[str, Any] = answer.json()
    return found


async def test_an_advisor_adds_a_referral_and_records_it_declined_with_a_reason(
    console_system: ConsoleSystem, browser: Browser
) -> None:
    console = console_system.console_url
    case = await post_contact(console_system)
    tasks = await eventually(
        lambda: case_tasks(console_system, case),
        lambda found: len(found) == 6 and all(t["assignee"] in ADVISORS for t in found),
        30, f"the tasks of {case} given to the advisor on duty",
    )  # fmt: skip
    legal = next(task for task in tasks if task["kind"] == "legal_advice")
    task_id, advisor = legal["task_id"], str(legal["assignee"])
    offered = (await casework(console_system, f"/v1/tasks/{task_id}/suggestions"))["organisations"]
    entry = offered[0]  # the directory's first suggestion for legal advice in the case's district
    yesterday = datetime.now(LONDON).date() - timedelta(days=1)

    context, page = await signed_in(browser, console_system, advisor)
    try:
        await page.goto(f"{console}/tasks/{task_id}")
        await expect(page.get_by_test_id("no-referrals")).to_be_visible()

        # One not in the directory, its name not in the allowed shape: refused beside the field.
        await page.get_by_label("Referred to").select_option("other")
        await page.get_by_label("Name, if not in the directory").fill("night shelter")
        await page.get_by_role("button", name="Add referral").click()
        await expect(page.locator("#referral-name-error")).to_contain_text(
            "Enter the organisation's short name: a capital letter or a digit first"
        )
        await expect(page.get_by_test_id("referral-errors").locator("li")).to_have_count(1)
        await accessible(page, "the task page with a refused referral")
        assert await casework(console_system, f"/v1/tasks/{task_id}/referrals") == []

        await page.get_by_label("Referred to").select_option(entry["id"])
        await page.get_by_label("Name, if not in the directory").fill("")
        await page.get_by_label("E-mail", exact=True).check()
        await page.get_by_label("Made on").fill(yesterday.isoformat())
        await page.get_by_role("button", name="Add referral").click()
        await expect(page.get_by_text("Referral added.")).to_be_visible()
        listed = page.get_by_test_id("referrals").locator("[data-referral]")
        await expect(listed).to_have_count(1)
        await expect(listed.get_by_role("heading")).to_have_text(entry["name"])
        await expect(listed.get_by_test_id("referral-method")).to_have_text("E-mail")
        await expect(listed.get_by_test_id("referral-made-on")).to_have_text(yesterday.isoformat())
        await expect(listed.get_by_test_id("referral-outcome")).to_have_text("Made, no answer yet")
        # Only what the table allows from "made" is offered.
        await expect(listed.locator("input[name=outcome]")).to_have_count(3)

        await listed.get_by_label("Declined", exact=True).check()
        await listed.get_by_label("If declined, why").select_option("no_capacity")
        await accessible(page, "the task page with a referral to record")
        await listed.get_by_role("button", name="Record outcome").click()
        await expect(
            page.get_by_text("Referral outcome recorded: Declined (No capacity).")
        ).to_be_visible()
        await expect(listed.get_by_test_id("referral-outcome")).to_have_text(
            "Declined: No capacity"
        )
        await expect(listed.get_by_role("button", name="Record outcome")).to_have_count(0)
    finally:
        await context.close()

    stored = await casework(console_system, f"/v1/tasks/{task_id}/referrals")
    assert [(r["organisation_id"], r["organisation_name"], r["method"], r["made_on"],
             r["outcome"], r["decline_reason"], r["created_by"]) for r in stored] == [
        (entry["id"], None, "email", yesterday.isoformat(), "declined", "no_capacity", advisor)
    ]  # fmt: skip
    assert [(c["from_outcome"], c["to_outcome"], c["actor"]) for c in stored[0]["history"]] == [
        (None, "made", advisor),
        ("made", "declined", advisor),
    ]


async def test_the_coordinator_adds_a_session_and_sees_the_pace_change(
    console_system: ConsoleSystem, browser: Browser
) -> None:
    console = console_system.console_url
    before = (await training(console_system))["progress"]
    day = datetime.now(LONDON).date() - timedelta(days=1)
    # Held sessions count within the funded period only.
    assert date.fromisoformat(before["project_starts"]) <= day
    assert day < date.fromisoformat(before["period_ends"])
    # Letters only: six hex digits can all be digits (a CI run drew 036952), and the scheduler
    # rightly refuses a run of five digits in a topic as a phone number.
    marker = uuid.uuid4().hex[:6].translate(str.maketrans("0123456789", "ghijklmnop"))
    topic = f"Spotting labour exploitation {marker}"

    context, page = await signed_in(browser, console_system, COORDINATOR)
    try:
        await page.get_by_role("link", name="Training", exact=True).click()
        await page.wait_for_url(f"{console}/training")
        await expect(page.get_by_test_id("pace-held")).to_have_text(str(before["held"]))
        await expect(page.get_by_test_id("pace-target")).to_have_text(str(before["target"]))
        await expect(page.get_by_test_id("pace-expected")).to_have_text(
            str(before["expected_by_now"])
        )
        await accessible(page, "the training page")

        await page.get_by_label("Date", exact=True).fill(day.isoformat())
        await page.get_by_label("Time", exact=True).fill("10:00")
        await page.get_by_label("Topic", exact=True).fill(topic)
        await page.get_by_label("Audience", exact=True).fill(
            "Norfolk Constabulary\nNorfolk County Council"
        )
        await page.get_by_label("Link to the materials (optional)").fill(
            "https://intranet.example.org/training/labour.pdf"
        )
        await page.get_by_role("button", name="Add session").click()
        await expect(page.get_by_text(f"Training session added: {topic}.")).to_be_visible()
        await expect(page.get_by_test_id("pace-awaiting")).to_have_text(
            str(before["awaiting_attendance"] + 1)
        )
        await expect(page.get_by_test_id("pace-held")).to_have_text(str(before["held"]))

        added = page.locator("[data-session]", has=page.get_by_role("heading", name=topic))
        await expect(added.get_by_test_id("session-attendance")).to_have_text("Not recorded yet")
        await added.get_by_label("Number who attended").fill("12")
        await added.get_by_role("button", name="Record attendance").click()
        await expect(page.get_by_text("Attendance recorded: 12.")).to_be_visible()
        await expect(page.get_by_test_id("pace-held")).to_have_text(str(before["held"] + 1))
        await expect(page.get_by_test_id("pace-awaiting")).to_have_text(
            str(before["awaiting_attendance"])
        )
        await expect(added.get_by_test_id("session-attendance")).to_have_text("12 attended")
        await accessible(page, "the training page after attendance")
    finally:
        await context.close()

    after = await training(console_system)
    mine = [s for s in after["sessions"] if s["topic"] == topic]
    assert [(s["status"], s["attending"], s["audience"], s["materials_url"]) for s in mine] == [
        ("held", 12, ["Norfolk Constabulary", "Norfolk County Council"],
         "https://intranet.example.org/training/labour.pdf")
    ]  # fmt: skip
    started = datetime.fromisoformat(mine[0]["starts_at"]).astimezone(LONDON)
    assert (started.date(), started.hour, started.minute) == (day, 10, 0)
    assert after["progress"]["held"] == before["held"] + 1
