"""The directory of local services, a need task's suggested organisations, a case's
criminal-justice support record and the calendar import of leave and cover, in the browser:

- The head of service adds a directory entry (a wrong phone number is refused beside its field,
  in plain words, and nothing is stored), then edits it; an advisor cannot, and is offered the new
  organisation, with its links and its review flag, on a need task of a new case.
- The case's advisor records the person declining, then willing, then a booked interview typed in
  UK summer time; the page shows the history and the booking in London time, a booking in the
  past is refused, and casework holds exactly those changes.
- The head of service checks an .ics file (the dry run changes nothing), applies it, and the rota
  shows the leave as a gap.

Every effect is checked in the services' own APIs."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, FilePayload, Page, expect

from shared.clock import LONDON
from tests.browser.conftest import signed_in
from tests.browser.test_head import rota_row
from tests.browser.test_now import post_contact
from tests.support.browser import check_accessibility, describe
from tests.support.console_system import ADVISORS, HEAD, ConsoleSystem
from tests.support.waiting import eventually

HEAD_TOKEN = {"Authorization": "Bearer test-token-head"}  # casework's and the notifier's


async def accessible(page: Page, where: str) -> None:
    """axe-core finds no serious or critical violation in the page as it is now."""
    violations = await check_accessibility(page)
    assert not violations, f"{where}:\n{describe(violations)}"


async def api(running: ConsoleSystem, service: str, method: str, path: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=running.live[service].url, timeout=10) as client:
        return await client.request(method, path, headers=HEAD_TOKEN)


async def case_tasks(running: ConsoleSystem, case: str) -> list[dict[str, Any]]:
    answer = await api(running, "casework", "GET", f"/v1/cases/{case}/tasks")
    found: list[dict[str, Any]] = answer.json() if answer.status_code == 200 else []
    return found


@pytest.fixture(scope="module")
async def case_and_tasks(console_system: ConsoleSystem) -> tuple[str, list[dict[str, Any]]]:
    """A new case (the example contact: Great Yarmouth, four support needs) and its tasks, given
    to the advisor on duty."""
    case = await post_contact(console_system)
    tasks = await eventually(
        lambda: case_tasks(console_system, case),
        lambda found: len(found) == 6 and all(t["assignee"] in ADVISORS for t in found),
        30, f"the tasks of {case} given to the advisor on duty",
    )  # fmt: skip
    return case, tasks


async def test_the_head_of_service_adds_and_edits_an_entry_and_an_advisor_is_offered_it(
    console_system: ConsoleSystem, browser: Browser, case_and_tasks: tuple[str, list[Any]]
) -> None:
    console = console_system.console_url
    tag = uuid.uuid4().hex[:6]
    entry_id, name = f"legal-clinic-{tag}", f"Yarmouth Legal Clinic {tag}"
    yesterday = datetime.now(LONDON).date() - timedelta(days=1)
    hours = f"Tuesdays 10:00-12:00 ({tag})"
    _, tasks = case_and_tasks
    legal = next(task for task in tasks if task["kind"] == "legal_advice")

    context, page = await signed_in(browser, console_system, HEAD)
    try:
        await page.goto(f"{console}/directory")
        await page.get_by_role("link", name="Add an entry").click()
        await page.get_by_label("Short id").fill(entry_id)
        await page.get_by_label("Organisation's name").fill(name)
        await page.get_by_label("Legal advice").check()
        await page.get_by_label("All districts").check()
        await page.get_by_label("Method 1", exact=True).select_option("phone")
        await page.get_by_label("Contact 1", exact=True).fill("ring the clinic")
        await page.get_by_label("Method 2", exact=True).select_option("online_form")
        await page.get_by_label("Contact 2", exact=True).fill("https://legal-clinic.example/refer")
        await page.get_by_label("Review by").fill(yesterday.isoformat())
        await page.get_by_role("button", name="Save entry").click()

        # Refused beside the field, in words; the form keeps what was typed; nothing stored.
        await expect(page.locator("#route-0-contact-error")).to_have_text(
            "Error: A phone contact is a number: digits and spaces, optional leading +."
        )
        await expect(page.get_by_label("Organisation's name")).to_have_value(name)
        await accessible(page, "the entry form with errors")
        missing = await api(console_system, "casework", "GET", f"/v1/directory/{entry_id}")
        assert missing.status_code == 404

        await page.get_by_label("Contact 1", exact=True).fill("01632 960999")
        await page.get_by_role("button", name="Save entry").click()
        await page.wait_for_url(f"{console}/directory")
        await expect(page.get_by_text(f"Added: {name}.")).to_be_visible()
        card = page.locator(f"[data-entry='{entry_id}']")
        await expect(card.get_by_test_id("review-overdue")).to_have_text("Review overdue")
        await accessible(page, "the directory")

        await card.get_by_role("link", name=f"Edit {name}").click()
        await page.get_by_label("Opening hours (optional)").fill(hours)
        await page.get_by_role("button", name="Save entry").click()
        await page.wait_for_url(f"{console}/directory")
        await expect(card.get_by_test_id("opening-hours")).to_have_text(hours)

        stored = (await api(console_system, "casework", "GET", f"/v1/directory/{entry_id}")).json()
        assert {k: stored[k] for k in ("name", "needs", "districts", "opening_hours",
                                       "review_date", "updated_by", "review_overdue")} == {
            "name": name, "needs": ["legal_advice"], "districts": ["all"], "opening_hours": hours,
            "review_date": yesterday.isoformat(), "updated_by": HEAD, "review_overdue": True,
        }  # fmt: skip
        assert stored["how_to_refer"] == [
            {"method": "phone", "contact": "01632 960999", "notes": None},
            {"method": "online_form", "contact": "https://legal-clinic.example/refer",
             "notes": None},
        ]  # fmt: skip

        # The filters: listed for legal advice in any district ("all"), not for housing.
        await page.get_by_label("Need").select_option("legal_advice")
        await page.get_by_label("District").select_option("great_yarmouth")
        await page.get_by_role("button", name="Show organisations").click()
        await expect(card).to_be_visible()
        await page.get_by_label("Need").select_option("housing")
        await page.get_by_role("button", name="Show organisations").click()
        await expect(page.locator("[data-testid=directory-entry]").first).to_be_visible()
        await expect(card).to_have_count(0)

        # A post without the form's token changes nothing.
        forged = await context.request.post(
            f"{console}/directory/{entry_id}/retire", form={"csrf_token": "wrong"}
        )
        assert forged.status == 403
        still = await api(console_system, "casework", "GET", f"/v1/directory/{entry_id}")
        assert still.json()["retired_at"] is None
    finally:
        await context.close()

    advisor = str(legal["assignee"])
    context, page = await signed_in(browser, console_system, advisor)
    try:
        # An advisor reads the directory but is offered no way to change it.
        await page.goto(f"{console}/directory")
        await expect(page.locator(f"[data-entry='{entry_id}']")).to_be_visible()
        await expect(page.get_by_role("link", name="Add an entry")).to_have_count(0)
        await expect(page.get_by_role("link", name=f"Edit {name}")).to_have_count(0)
        await expect(page.get_by_role("link", name="Calendar import")).to_have_count(0)
        refused = await page.goto(f"{console}/directory/{entry_id}/edit")
        assert refused is not None
        assert refused.status == 403

        await page.goto(f"{console}/tasks/{legal['task_id']}")
        offered = page.get_by_test_id("suggestions").locator(f"[data-entry='{entry_id}']")
        await expect(offered.get_by_role("heading")).to_have_text(f"{name} Review overdue")
        await expect(offered.get_by_role("link", name="01632 960999")).to_have_attribute(
            "href", "tel:01632960999"
        )
        await expect(
            offered.get_by_role("link", name=f"referral form of {name}")
        ).to_have_attribute("href", "https://legal-clinic.example/refer")
        await accessible(page, "a task with suggestions")
    finally:
        await context.close()
        # Leave the shipped directory as it was for the other tests' suggestions.
        await api(console_system, "casework", "DELETE", f"/v1/directory/{entry_id}")


async def test_an_advisor_moves_the_criminal_justice_record_and_sees_its_history(
    console_system: ConsoleSystem, browser: Browser, case_and_tasks: tuple[str, list[Any]]
) -> None:
    case, tasks = case_and_tasks
    advisor = str(tasks[0]["assignee"])
    # A June day is always British Summer Time: 10:30 in London is 09:30 UTC.
    year = datetime.now(LONDON).year + 1
    booked_utc = f"{year}-06-16T09:30:00Z"
    context, page = await signed_in(browser, console_system, advisor)
    try:
        await page.goto(f"{console_system.console_url}/cases/{case}")
        await expect(page.get_by_test_id("cj-state")).to_have_text("Not yet asked")
        await expect(page.get_by_test_id("cj-history")).to_have_text("Nothing recorded yet.")
        # Only the changes allowed from "not yet asked" are offered.
        offered = page.locator("input[name=state][type=radio]")
        await expect(offered).to_have_count(2)
        await page.get_by_label("Declined to give an account").check()
        await page.get_by_role("button", name="Record change").click()
        await expect(page.get_by_test_id("cj-state")).to_have_text("Declined to give an account")
        await expect(page.get_by_role("button", name="Book support")).to_have_count(0)

        await page.get_by_label("Willing to give an account").check()
        await page.get_by_role("button", name="Record change").click()
        await expect(page.get_by_test_id("cj-state")).to_have_text("Willing to give an account")

        # A booking in the past is refused, in words, and changes nothing.
        await page.get_by_label("Police interview").check()
        await page.get_by_label("Date and time (UK time)").fill(f"{year - 2}-06-16T10:30")
        await page.get_by_role("button", name="Book support").click()
        await expect(page.get_by_test_id("cj-error")).to_have_text(
            "A booking is for a time still to come"
        )
        await page.get_by_label("Date and time (UK time)").fill(f"{year}-06-16T10:30")
        await page.get_by_role("button", name="Book support").click()
        await expect(page.get_by_test_id("cj-state")).to_have_text("Support booked")
        shown = f"10:30, {date(year, 6, 16):%a} 16 Jun {year}"
        await expect(page.get_by_test_id("cj-booking")).to_have_text(
            f"Police interview, {shown} (UK time)"
        )
        await accessible(page, "a case with support booked")
        history = page.get_by_test_id("cj-history").locator("li")
        await expect(history).to_have_count(3)
        await expect(history.nth(0)).to_contain_text(
            f"Not yet asked → Declined to give an account by {advisor}"
        )
        await expect(history.nth(2)).to_contain_text(
            f"Willing to give an account → Support booked (Police interview, {shown}) by {advisor}"
        )
    finally:
        await context.close()
    record = await api(console_system, "casework", "GET", f"/v1/cases/{case}/criminal-justice")
    stored = record.json()
    assert stored["state"] == "support_booked"
    assert (stored["booking"]["kind"], stored["booking"]["booked_at"]) == ("interview", booked_utc)
    assert [(c["from_state"], c["to_state"], c["actor"]) for c in stored["history"]] == [
        ("not_yet_asked", "declined", advisor),
        ("declined", "willing_to_give_account", advisor),
        ("willing_to_give_account", "support_booked", advisor),
    ]


def leave_calendar(day: date, uid: str) -> bytes:
    """Leave for advisor-day 16:00–17:00 London time that day (a floating time is London's), and
    an event the import ignores."""
    stamp = f"{day:%Y%m%d}"
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//leave//EN\r\n"
        f"BEGIN:VEVENT\r\nUID:{uid}-1@test.example\r\nDTSTAMP:20260101T000000Z\r\n"
        f"DTSTART:{stamp}T160000\r\nDTEND:{stamp}T170000\r\nSUMMARY:Leave advisor-day\r\n"
        "END:VEVENT\r\n"
        f"BEGIN:VEVENT\r\nUID:{uid}-2@test.example\r\nDTSTAMP:20260101T000000Z\r\n"
        f"DTSTART:{stamp}T120000\r\nDTEND:{stamp}T130000\r\nSUMMARY:Team lunch\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


async def changes_from(running: ConsoleSystem, starts: datetime) -> list[dict[str, Any]]:
    answer = await api(running, "notifier", "GET", "/v1/rota/changes")
    return [
        change for change in answer.json()["changes"]
        if datetime.fromisoformat(change["starts_at"]) == starts
    ]  # fmt: skip


async def test_the_head_of_service_checks_then_applies_a_calendar_of_leave(
    console_system: ConsoleSystem, browser: Browser
) -> None:
    # Four days ahead, late afternoon: inside advisor-day's 08:00–20:00 shift and clear of the
    # times the other rota tests use.
    day = datetime.now(LONDON).date() + timedelta(days=4)
    starts = datetime.combine(day, time(16), tzinfo=LONDON)
    source = f"t{uuid.uuid4().hex[:8]}"
    calendar = leave_calendar(day, uuid.uuid4().hex)
    assert await changes_from(console_system, starts) == []
    context, page = await signed_in(browser, console_system, HEAD)
    try:
        await page.goto(f"{console_system.console_url}/now")
        await page.get_by_role("link", name="Calendar import").click()
        upload: FilePayload = {"name": "leave.ics", "mimeType": "text/calendar", "buffer": calendar}
        await page.set_input_files("#calendar", files=[upload])
        await page.get_by_label("Calendar's name").fill(source)
        await page.get_by_role("button", name="Check the calendar").click()
        await expect(page.get_by_test_id("import-summary").locator("li")).to_have_text(
            ["1 leave or cover entry would be added.",
             "1 event not leave or cover (title starts with neither), ignored."]
        )  # fmt: skip
        assert await changes_from(console_system, starts) == []  # the check stored nothing
        await accessible(page, "the calendar check")

        await page.get_by_role("button", name="Apply to the rota").click()
        await page.wait_for_url(f"{console_system.console_url}/head/rota")
        await expect(
            page.get_by_text("Calendar imported. 1 leave or cover entry was added.")
        ).to_be_visible()
        await expect(rota_row(page, day).locator("[data-testid=gap]")).to_have_text(
            ["Gap 16:00–17:00"]
        )
        stored = await changes_from(console_system, starts)
        assert [
            (c["source"], c["kind"], c["person_id"], datetime.fromisoformat(c["ends_at"]))
            for c in stored
        ] == [("calendar", "leave", "advisor-day", datetime.combine(day, time(17), tzinfo=LONDON))]
    finally:
        await context.close()
        for change in await changes_from(console_system, starts):
            await api(console_system, "notifier", "DELETE", f"/v1/rota/changes/{change['id']}")
