"""The advisor's day in the real browser: take a case by acknowledging its alert on "Now", find
its tasks under "My tasks", start one, record an onward referral, close another, hand one to the
other advisor; the case timeline (seen by the head of service) tells it all in order. And the audited reveal of personal data: only a vault reader sees the
form, only with a typed purpose, recorded by intake, never cached, gone after navigating away."""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Browser, Page, expect
from playwright.async_api import Error as PlaywrightError

from tests.browser.conftest import signed_in
from tests.browser.test_now import alert_for
from tests.support import system
from tests.support.browser import PHONE, check_accessibility, describe, screenshot
from tests.support.console_system import ADVISORS, HEAD, ConsoleSystem
from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]
HEAD_TOKEN = {"Authorization": "Bearer test-token-head"}  # casework's and notifier's test token
PURPOSE_ERROR = "Say why you need it, in 5 to 500 characters."


def contact_document(edit: Callable[[dict[str, Any]], None] | None = None) -> bytes:
    """The example police contact with a fresh police reference, changed by `edit`."""
    body = json.loads((ROOT / "docs" / "examples" / "police-contact.v1.json").read_text())
    body["police_reference"] = f"NFK/2026/{uuid.uuid4().int % 10**6:06d}"
    if edit is not None:
        edit(body)
    return json.dumps(body).encode()


async def post_contact_document(running: ConsoleSystem, body: bytes) -> str:
    """Post a signed contact to intake; the new case's reference."""
    async with httpx.AsyncClient(base_url=running.live["intake"].url, timeout=30) as client:
        answer = await system.post_contact(client, body)
    assert answer.status_code == 202, answer.text
    case: str = answer.json()["case_reference"]
    return case


async def casework(running: ConsoleSystem, path: str) -> Any:
    """A casework API read as the head of service (who sees every task)."""
    async with httpx.AsyncClient(base_url=running.live["casework"].url, timeout=10) as client:
        answer = await client.get(path, headers=HEAD_TOKEN)
    answer.raise_for_status()
    return answer.json()


async def case_tasks(running: ConsoleSystem, case: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await casework(running, f"/v1/cases/{case}/tasks")
    return found


async def paged_alert(running: ConsoleSystem, case: str) -> dict[str, Any]:
    """The case's alert once its first step has paged someone."""

    async def probe() -> dict[str, Any]:
        try:
            return await alert_for(running, case)
        except AssertionError:
            return {}

    return await eventually(probe, lambda a: bool(a.get("paged_person_ids")), 30, "a paged alert")


def vault_reads(running: ConsoleSystem, case: str) -> list[tuple[str, str, str]]:
    """Intake's audit rows for `case`: (accessor, purpose, action), oldest first."""
    database = running.console_log.parent / "intake.sqlite3"
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        rows = connection.execute(
            "SELECT accessor, purpose, action FROM vault_access_log WHERE case_reference = ? "
            "ORDER BY id",
            (case,),
        ).fetchall()
    return [(str(a), str(p), str(x)) for a, p, x in rows]


def by_kind(tasks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {task["kind"]: task for task in tasks}


async def history_lines(page: Page) -> list[str]:
    return [" ".join(line.split()) for line in await page.get_by_test_id("task-history").locator(
        "li").all_inner_texts()]  # fmt: skip


async def test_an_advisor_takes_a_case_and_works_its_tasks(
    console_system: ConsoleSystem, browser: Browser
) -> None:
    case = await post_contact_document(console_system, contact_document())
    alert = await paged_alert(console_system, case)
    # The advisor paged first (whoever the rota has on duty now) takes the case.
    advisor = str(alert["paged_person_ids"][0])
    assert advisor in ADVISORS, alert
    other = next(person for person in ADVISORS if person != advisor)
    url = console_system.console_url

    # The tasks are open (given to whoever was on duty) before anyone takes the case.
    await eventually(lambda: case_tasks(console_system, case), lambda f: len(f) == 6, 30, "tasks")
    context, page = await signed_in(browser, console_system, advisor, PHONE)
    head_context, head_page = await signed_in(browser, console_system, HEAD)
    try:
        row = page.locator(f"tr:has-text('{case}')")
        await expect(row).to_be_visible(timeout=30_000)
        await row.get_by_role("button", name="Acknowledge").click()
        await expect(page.get_by_text("Alert acknowledged")).to_be_visible()
        assert (await alert_for(console_system, case))["acknowledged_by"] == advisor

        # Casework hears of the acknowledgement and gives the case's open tasks to the advisor.
        tasks = await eventually(
            lambda: case_tasks(console_system, case),
            lambda found: len(found) == 6
            and all(t["assignee"] == advisor and t["assigned_by"] == "acknowledged" for t in found),
            30, "the case's tasks assigned on acknowledgement",
        )  # fmt: skip
        kinds = by_kind(tasks)
        referral_task, closed_task, handed_task = (
            kinds["legal_advice"], kinds["first_contact"], kinds["interpreter"],
        )  # fmt: skip

        # My tasks lists them as the advisor's own; open one from there.
        await page.goto(f"{url}/tasks")
        mine = page.locator("table", has=page.get_by_text("Assigned to you"))
        for task in tasks:
            await expect(mine.locator(f"tr[data-task='{task['task_id']}']")).to_be_visible()
        await mine.locator(f"tr[data-task='{referral_task['task_id']}']").get_by_role(
            "link", name="Legal advice").click()  # fmt: skip
        await page.wait_for_url(f"{url}/tasks/{referral_task['task_id']}")

        await page.get_by_role("button", name="Start task").click()
        await expect(page.get_by_text("Task started.")).to_be_visible()
        await expect(page.get_by_test_id("task-status")).to_have_text("in progress")
        stored = await casework(console_system, f"/v1/tasks/{referral_task['task_id']}")
        assert stored["status"] == "in_progress"

        # An onward referral made yesterday by e-mail (not the form's defaults, so what is stored
        # must have come from what was typed).
        yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
        outcome = f"Appointment offered, reference {uuid.uuid4().hex[:6]}"
        await page.get_by_label("Organisation").select_option("legal_aid_provider")
        await page.get_by_label("Date referred").fill(yesterday)
        await page.get_by_label("Email").check()
        await page.get_by_label("Outcome so far").fill(outcome)
        await page.get_by_role("button", name="Record referral").click()
        await expect(page.get_by_text("Referral recorded.")).to_be_visible()
        await expect(page.get_by_test_id("task-status")).to_have_text("referred")
        stored = await casework(console_system, f"/v1/tasks/{referral_task['task_id']}")
        assert stored["status"] == "referred"
        assert stored["organisation"] == "legal_aid_provider"
        assert stored["referral_method"] == "email"
        assert stored["referred_on"] == yesterday
        assert stored["outcome"] == outcome
        lines = await history_lines(page)
        assert any(line.endswith("opened (none → open) by system") for line in lines), lines
        assert any(f"({advisor} → {advisor}) by {advisor}" in line for line in lines), lines
        assert any(f"status (open → in_progress) by {advisor}" in line for line in lines), lines
        assert any(f"status (in_progress → referred) by {advisor}" in line for line in lines), lines

        # Another task closed straight from open.
        await page.goto(f"{url}/tasks/{closed_task['task_id']}")
        await page.get_by_role("button", name="Close task as done").click()
        await expect(page.get_by_text("Task closed.")).to_be_visible()
        await expect(page.get_by_test_id("task-status")).to_have_text("done")
        stored = await casework(console_system, f"/v1/tasks/{closed_task['task_id']}")
        assert stored["status"] == "done"
        assert stored["closed_at"]
        assert any(f"status (open → done) by {advisor}" in line for line in await history_lines(
            page))  # fmt: skip

        # Handing a task to the other advisor, as colleagues do at a shift change: it leaves the
        # advisor's list, and being another's it is no longer theirs to open.
        handed = f"/v1/tasks/{handed_task['task_id']}"
        await page.goto(f"{url}/tasks/{handed_task['task_id']}")
        await page.get_by_label("Hand this task to").select_option(other)
        await page.get_by_role("button", name="Reassign").click()
        await expect(page.get_by_text(f"Task reassigned to {other}.")).to_be_visible()
        assert page.url == f"{url}/tasks"
        stored = await casework(console_system, handed)
        assert (stored["assignee"], stored["assigned_by"]) == (other, "reassigned")
        await expect(mine.locator(f"tr[data-task='{referral_task['task_id']}']")).to_have_count(0)
        await expect(mine.locator(f"tr[data-task='{handed_task['task_id']}']")).to_have_count(0)
        await expect(
            mine.locator(f"tr[data-task='{kinds['healthcare']['task_id']}']")
        ).to_be_visible()
        answer = await page.goto(f"{url}/tasks/{handed_task['task_id']}")
        assert answer is not None
        assert answer.status == 404

        # The case timeline, as the head of service (who sees every task), in time order.
        await head_page.goto(f"{url}/cases/{case}")
        events = [" ".join(text.split()) for text in await head_page.get_by_test_id(
            "timeline").locator("li").all_inner_texts()]  # fmt: skip
        expected = [
            "Police contact received",
            "Alert raised (immediate)",
            f"Alert acknowledged (by {advisor})",
            f"Task legal advice: status → in progress (by {advisor})",
            f"Task legal advice: status → referred (by {advisor})",
            f"Task first contact: status → done (by {advisor})",
            f"Task interpreter: assigned → {other} (by {advisor})",
        ]
        positions = [
            next((i for i, event in enumerate(events) if want in event), -1) for want in expected
        ]
        assert -1 not in positions, "\n".join(events)
        assert positions == sorted(positions), "\n".join(events)
        shown = [timeline_time(event) for event in events]
        assert shown == sorted(shown), "\n".join(events)
    finally:
        await context.close()
        await head_context.close()


def timeline_time(event: str) -> datetime:
    """A timeline entry's London time as shown ("14:05, Mon 30 Nov: …"). The year is not shown;
    a leap year stands in, enough to compare the entries of one test's minutes."""
    match = re.match(r"\d{2}:\d{2}, \w{3} \d{2} \w{3}(?=:)", event)
    assert match, event
    return datetime.strptime(f"{match.group()} 2000", "%H:%M, %a %d %b %Y")


async def test_personal_data_is_revealed_only_to_a_vault_reader_with_a_purpose(
    console_system: ConsoleSystem, browser: Browser
) -> None:
    name = f"Canary Quillon {uuid.uuid4().hex[:10]}"

    def named(body: dict[str, Any]) -> None:
        body["person"]["name"] = name

    case = await post_contact_document(console_system, contact_document(named))
    url = console_system.console_url
    context, page = await signed_in(browser, console_system, HEAD, PHONE)
    advisor_context, advisor_page = await signed_in(browser, console_system, ADVISORS[0])
    try:
        await page.goto(f"{url}/cases/{case}")
        await expect(page.get_by_text("Police contact received")).to_be_visible()

        # No purpose: refused, with the error by the field and nothing read.
        async with page.expect_navigation() as empty:
            await page.get_by_role("button", name="Show personal data").click()
        answer = await empty.value
        assert answer is not None
        assert answer.status == 422
        await expect(page.locator("#purpose-error")).to_contain_text(PURPOSE_ERROR)
        assert name not in await page.content()
        assert vault_reads(console_system, case) == []

        purpose = f"Arranging safe accommodation tonight {uuid.uuid4().hex[:6]}"
        await page.get_by_label("Why do you need the personal data?").fill(purpose)
        async with page.expect_navigation() as revealed:
            await page.get_by_role("button", name="Show personal data").click()
        answer = await revealed.value
        assert answer is not None
        assert answer.status == 200
        assert "no-store" in (answer.headers.get("cache-control") or "")
        await expect(page.locator("[data-personal]").get_by_text(name, exact=True)).to_be_visible()
        violations = await check_accessibility(page)
        assert not violations, describe(violations)
        await screenshot(page, "personal-data-phone")
        assert vault_reads(console_system, case) == [(HEAD, purpose, "read")]

        # Away and back: the browser has kept nothing to show again.
        reveal_url = page.url
        await page.goto(f"{url}/now")
        await expect(page.get_by_role("heading", name="Now", exact=True)).to_be_visible()
        if refused := await go_back(page):
            # Chromium kept no copy (no-store) and will not post the form again by itself: it
            # shows its "Confirm Form Resubmission" page instead.
            assert "ERR_CACHE_MISS" in refused, refused
            await page.wait_for_url("chrome-error://**")
            await expect(page.locator("body")).to_contain_text("ERR_CACHE_MISS")
        else:  # a browser that keeps the page shows it emptied by the pagehide handler
            assert page.url == reveal_url, page.url
            await expect(page.get_by_role("heading", name="Personal data")).to_be_visible()
        assert name not in await page.content()
        assert await page.locator("[data-personal]").count() == 0

        # An advisor is not a vault reader: no form, and posting it anyway is refused.
        await advisor_page.goto(f"{url}/cases/{case}")
        await expect(advisor_page.get_by_text("Police contact received")).to_be_visible()
        assert await advisor_page.get_by_role("button", name="Show personal data").count() == 0
        assert await advisor_page.locator("form[action$='/personal-data']").count() == 0
        target = f"{url}/cases/{case}/personal-data"
        status, refusal = await post_reveal(advisor_page, target, "Checking the person's name")
        assert status == 403
        assert "You do not have access" in refusal
        assert name not in refusal
        # The same request from the head of service's browser succeeds: the refusal is the
        # advisor's role, not the way the request was made (its CSRF token, its headers).
        await page.goto(f"{url}/cases/{case}")
        status, shown = await post_reveal(page, target, "Confirming the name for the panel")
        assert status == 200
        assert name in shown
        assert [row[0] for row in vault_reads(console_system, case)] == [HEAD, HEAD]
    finally:
        await context.close()
        await advisor_context.close()


async def post_reveal(page: Page, target: str, purpose: str) -> tuple[int, str]:
    """POST the reveal form from `page`'s session with its own CSRF token: (status, body)."""
    headers = json.loads(await page.locator("body").get_attribute("hx-headers") or "{}")
    answer = await page.request.post(
        target, form={"csrf_token": headers["X-CSRF-Token"], "purpose": purpose}
    )
    return answer.status, await answer.text()


async def go_back(page: Page) -> str:
    """Press Back: "" if a page was shown, else the reason the browser gave for showing none."""
    try:
        await page.go_back()
    except PlaywrightError as error:
        return str(error)
    return ""
