"""The meeting coordinator in the browser: reorder, defer and add to the next case panel's agenda,
publish it, and download it. The PDF's order is checked three ways: against the order worked out
here from the moves made, against the scheduler's JSON agenda, and by where each case reference
stands in the PDF's own text. An advisor cannot open the meetings pages at all."""

from __future__ import annotations

import io
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx
from icalendar import Calendar
from playwright.async_api import Browser, Page, expect
from pypdf import PdfReader

from shared.clock import LONDON
from tests.browser.conftest import signed_in
from tests.browser.test_now import post_contact
from tests.support.browser import PHONE, screenshot
from tests.support.console_system import COORDINATOR, ConsoleSystem
from tests.support.waiting import eventually

COORDINATOR_TOKEN = {"Authorization": "Bearer test-token-coordinator"}  # the scheduler's
SERIES = "case-panel"
CASE_REFERENCE = re.compile(r"\bMS-\d{4}-[A-Z0-9]{4,12}\b")


async def scheduler(running: ConsoleSystem, path: str) -> Any:
    url = running.live["meeting_scheduler"].url
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        answer = await client.get(path, headers=COORDINATOR_TOKEN)
    answer.raise_for_status()
    return answer.json()


async def next_case_panels(running: ConsoleSystem) -> tuple[datetime, datetime]:
    """When the next case panel starts, and the one after it."""
    panels = sorted(
        datetime.fromisoformat(meeting["starts_at"])
        for meeting in await scheduler(running, "/v1/meetings")
        if meeting["series_id"] == SERIES
    )
    return panels[0], panels[1]


def london_day(moment: datetime) -> date:
    return moment.astimezone(LONDON).date()


async def agenda(running: ConsoleSystem, day: date) -> dict[str, Any]:
    found: dict[str, Any] = await scheduler(running, f"/v1/meetings/{SERIES}/{day}/agenda")
    return found


async def new_items(running: ConsoleSystem, day: date) -> list[str]:
    return [item["case_reference"] for item in (await agenda(running, day))["new_items"]]


async def shown_order(page: Page) -> list[str]:
    order: list[str] = await page.locator("[data-testid=new-items] > li").evaluate_all(
        "items => items.map((item) => item.dataset.case)"
    )
    return order


def new_cases_section(text: str) -> str:
    """The PDF's "New cases" table: up to whichever heading follows it (the new cases' onward
    referrals, when any case has one, name their cases again under their own heading)."""
    start = text.index("New cases")
    ends = [
        text.find(heading, start)
        for heading in (
            "Onward referrals of the new cases", "Reviews carried over", "Actions due",
            "Any other business",
        )
    ]  # fmt: skip
    return text[start : min(end for end in ends if end != -1)]


@dataclass(frozen=True)
class EditPlan:
    """This test's cases on the next case panel, and the edits to make on them: move the last of
    them up one place and defer the first. Other tests' cases may share the agenda, so the
    expected order is worked out on the full order."""

    cases: list[str]
    panel: datetime
    following: datetime
    day: date
    next_day: date
    before: list[str]
    moved: str
    deferred: str
    after_move: list[str]
    expected: list[str]


async def plan_edits(console_system: ConsoleSystem, count: int) -> EditPlan:
    # Immediate contacts: listed on the next meeting even after its cut-off (flagged late).
    cases = [await post_contact(console_system) for _ in range(count)]
    panel, following = await next_case_panels(console_system)
    day, next_day = london_day(panel), london_day(following)
    before = await eventually(
        lambda: new_items(console_system, day),
        lambda order: set(cases) <= set(order),
        30,
        "this test's cases on the next case panel",
    )
    mine = [case for case in before if case in cases]
    moved, deferred = mine[-1], mine[0]
    after_move = list(before)
    at = after_move.index(moved)
    after_move[at - 1], after_move[at] = after_move[at], after_move[at - 1]
    expected = [case for case in after_move if case != deferred]
    return EditPlan(
        cases, panel, following, day, next_day, before, moved, deferred, after_move, expected
    )


async def test_reorder_defer_add_and_publish_then_the_pdf_follows_the_new_order(
    console_system: ConsoleSystem, browser: Browser
) -> None:
    plan = await plan_edits(console_system, 3)
    cases, panel, following = plan.cases, plan.panel, plan.following
    day, next_day, before = plan.day, plan.next_day, plan.before
    moved, deferred = plan.moved, plan.deferred
    after_move, expected = plan.after_move, plan.expected
    aob = f"Dates for next year's panels ({uuid.uuid4().hex[:6]})"

    context, page = await signed_in(browser, console_system, COORDINATOR, PHONE)
    try:
        await page.goto(f"{console_system.console_url}/meetings")
        await page.locator(f"a[href='/meetings/{SERIES}/{day}']").first.click()
        await page.wait_for_url(f"**/meetings/{SERIES}/{day}")
        assert [case for case in await shown_order(page) if case in before] == before

        await page.locator(f"li[data-case='{moved}']").get_by_role("button", name="Move up").click()
        await expect(page.get_by_text(f"{moved} moved up.")).to_be_visible()
        assert [case for case in await new_items(console_system, day) if case in before] == (
            after_move
        )

        await (
            page.locator(f"li[data-case='{deferred}']").get_by_role("button", name="Defer").click()
        )
        await expect(page.get_by_text(f"{deferred} deferred to the next meeting.")).to_be_visible()
        await expect(page.locator(f"li[data-case='{deferred}']")).to_have_count(0)
        now_listed = await agenda(console_system, day)
        listed = [item["case_reference"] for item in now_listed["new_items"]]
        assert [case for case in listed if case in before] == expected
        assert [
            datetime.fromisoformat(item["deferred_to"])
            for item in now_listed["deferred_items"]
            if item["case_reference"] == deferred
        ] == [following]
        assert deferred in await new_items(console_system, next_day)

        await page.get_by_label("Add an item").fill(aob)
        await page.get_by_role("button", name="Add item").click()
        await expect(page.get_by_text("Added under any other business.")).to_be_visible()
        assert {"text": aob, "added_by": COORDINATOR} in (await agenda(console_system, day))[
            "other_business"
        ]

        await page.get_by_role("button", name="Publish agenda").click()
        await expect(page.get_by_text("Agenda published.")).to_be_visible()
        status = page.get_by_test_id("publication")
        await expect(status).to_contain_text(re.compile(r"Published \(version \d+"))
        version = re.search(r"version (\d+)", await status.inner_text())
        assert version is not None
        assert int(version[1]) >= 1
        published = await agenda(console_system, day)
        assert published["published"]
        assert published["published_version"] == int(version[1])
        assert not published["changed_since_publication"]

        await page.set_viewport_size({"width": PHONE.width, "height": PHONE.height})
        await page.reload()
        await screenshot(page, "agenda-coordinator-after-changes-phone")

        href = await page.get_by_role("link", name="Download PDF").get_attribute("href")
        document = await page.request.get(f"{console_system.console_url}{href}")
        assert document.status == 200
        assert document.headers["content-type"].startswith("application/pdf")
        text = "\n".join(
            p.extract_text() for p in PdfReader(io.BytesIO(await document.body())).pages
        )
        section = new_cases_section(text)
        in_pdf = CASE_REFERENCE.findall(section)
        assert in_pdf == await new_items(console_system, day)  # the JSON agenda's order
        assert [case for case in in_pdf if case in before] == expected  # the order made here
        kept = [case for case in expected if case in cases]
        positions = [section.index(case) for case in kept]
        assert positions == sorted(positions), (kept, section)
        assert deferred not in text
        assert aob in text

        async with page.expect_download() as downloading:
            await page.get_by_role("link", name="Add to calendar (.ics)").click()
        invite = Path(await (await downloading.value).path()).read_bytes()
        events = Calendar.from_ical(invite).walk("VEVENT")
        assert len(events) == 1
        assert events[0].decoded("dtstart") == panel
    finally:
        await context.close()


async def test_an_advisor_cannot_open_the_meetings_pages(
    console_system: ConsoleSystem, browser: Browser
) -> None:
    panel, _ = await next_case_panels(console_system)
    context, page = await signed_in(browser, console_system, "advisor-day")
    try:
        answer = await page.goto(f"{console_system.console_url}/meetings")
        assert answer is not None
        assert answer.status == 403
        await expect(page.get_by_role("heading", name="You do not have access")).to_be_visible()
        assert await page.get_by_role("link", name="Meetings").count() == 0
        pdf = await page.request.get(
            f"{console_system.console_url}/meetings/{SERIES}/{london_day(panel)}/agenda.pdf"
        )
        assert pdf.status == 403
        assert not pdf.headers["content-type"].startswith("application/pdf")
    finally:
        await context.close()
