"""No identity leaks through the console: a police contact whose every identifier is a unique
canary string, then every page each role can reach (its need tasks with onward referral records
shown, the training page, and the agenda's PDF and calendar file, as downloaded through the
console) holds none of them, nor does the console's log, the services' logs, or any SMS, call or
e-mail. One audited reveal shows them all, which proves the canaries reached the system and that
the search would have found them."""

from __future__ import annotations

import io
import json
import re
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
from playwright.async_api import Browser, BrowserContext, Page, expect
from pypdf import PdfReader

from services.casework.directory import NEED_KINDS
from tests.browser.conftest import signed_in
from tests.browser.test_advisor import (
    case_tasks,
    contact_document,
    post_contact_document,
    vault_reads,
)
from tests.browser.test_now import alert_for
from tests.support.console_system import ADVISORS, COORDINATOR, HEAD, ConsoleSystem
from tests.support.waiting import eventually, wait_until

COORDINATOR_TOKEN = {"Authorization": "Bearer test-token-coordinator"}
HEAD_TOKEN = {"Authorization": "Bearer test-token-head"}


@dataclass(frozen=True)
class Canaries:
    """The identifiers posted (field → value), and every form of them a leak might take."""

    posted: dict[str, str]
    searched: dict[str, str]

    def found_in(self, text: str) -> list[str]:
        """The canaries `text` holds, also when split by white space (a PDF's line breaks)."""
        plain, squeezed = text.casefold(), re.sub(r"\s+", "", text).casefold()
        return [
            label
            for label, value in self.searched.items()
            if value.casefold() in plain or re.sub(r"\s+", "", value).casefold() in squeezed
        ]

    def assert_absent(self, text: str, where: str) -> None:
        """Fail naming the canaries found (not quoting `text`: a log is long)."""
        leaked = self.found_in(text)
        assert not leaked, f"{where} holds {', '.join(leaked)}"


def make_canaries() -> Canaries:
    def tag() -> str:
        return uuid.uuid4().hex[:10]

    number = uuid.uuid4().int
    born = date(1931 + number % 19, 1 + number % 12, 1 + number % 28)
    person_phone = f"+44 7700 9{number % 10**5:05d}"
    officer_phone = f"+44 1632 9{(number // 10**5) % 10**5:05d}"
    posted = {
        "person.name": f"Canary Wrenfield {tag()}",
        "person.date_of_birth": born.isoformat(),
        "person.phone": person_phone,
        "officer.name": f"PC Harrowgate {tag()}",
        "officer.collar_number": f"K{tag()[:8]}",
        "officer.phone": officer_phone,
        "officer.email": f"canary.{tag()}@police.example",
        "police_reference": f"CANARY/{tag().upper()}",
        "notes": f"Canary note {tag()}: found sleeping in a lorry cab.",
    }
    searched = dict(posted)
    # The other shapes a date or a number might be shown in, and each text's unique part alone
    # (a name cut short, a reference in a URL).
    searched |= {
        "person.date_of_birth (d/m/y)": f"{born:%d/%m/%Y}",
        "person.date_of_birth (long)": f"{born.day} {born:%B %Y}",
        "person.date_of_birth (short)": f"{born.day} {born:%b %Y}",
        "person.phone (digits)": re.sub(r"\D", "", person_phone),
        "officer.phone (digits)": re.sub(r"\D", "", officer_phone),
    }
    for label in ("person.name", "officer.name", "officer.email", "police_reference", "notes"):
        searched[f"{label} (tag)"] = re.findall(r"[0-9a-fA-F]{10}", posted[label])[0]
    return Canaries(posted, searched)


def canary_contact(canaries: Canaries) -> bytes:
    values = canaries.posted

    def fill(body: dict[str, Any]) -> None:
        body["police_reference"] = values["police_reference"]
        body["notes"] = values["notes"]
        body["person"] |= {
            "name": values["person.name"],
            "date_of_birth": values["person.date_of_birth"],
            "phone": values["person.phone"],
        }
        body["officer"] = {
            "collar_number": values["officer.collar_number"],
            "name": values["officer.name"],
            "phone": values["officer.phone"],
            "email": values["officer.email"],
        }

    return contact_document(fill)


async def meeting_of(running: ConsoleSystem, case: str) -> str:
    """The console path of the meeting the case is listed on (the scheduler adds it)."""
    async with httpx.AsyncClient(base_url=running.live["meeting_scheduler"].url) as client:

        async def items() -> list[dict[str, Any]]:
            answer = await client.get(
                f"/v1/cases/{case}/agenda-items", headers=COORDINATOR_TOKEN, timeout=10
            )
            answer.raise_for_status()
            found: list[dict[str, Any]] = answer.json()
            return found

        listed = await eventually(items, bool, 30, "the case on a meeting's agenda")
    return f"/meetings/{listed[0]['series_id']}/{listed[0]['meeting_date']}"


async def refer_every_need(running: ConsoleSystem, tasks: list[dict[str, Any]]) -> str:
    """An onward referral on each need task, the first declined, so each task page lists its
    referral records (the canary case's pages are searched with them shown); that first task."""
    needs = [task for task in tasks if task["kind"] in NEED_KINDS]
    assert needs, "the canary case has need tasks"
    async with httpx.AsyncClient(base_url=running.live["casework"].url, timeout=10) as client:
        for number, task in enumerate(needs):
            url = f"/v1/tasks/{task['task_id']}/referrals"
            made = await client.post(url, headers=HEAD_TOKEN,
                                     json={"organisation_name": "Norwich Law Centre",
                                           "method": "phone"})  # fmt: skip
            assert made.status_code == 201, made.text
            if number == 0:
                declined = await client.post(
                    f"{url}/{made.json()['referral_id']}/outcome", headers=HEAD_TOKEN,
                    json={"outcome": "declined", "decline_reason": "person_declined"},
                )  # fmt: skip
                assert declined.status_code == 200, declined.text
    return str(needs[0]["task_id"])


@dataclass(frozen=True)
class Visit:
    path: str
    status: int = 200
    shows_case: bool = False  # the page is about the case, so the check looks where a leak would be


def pages_for(person: str, case: str, tasks: list[dict[str, Any]], meeting: str) -> list[Visit]:
    def task_pages(everyone: bool) -> list[Visit]:
        return [
            Visit(f"/tasks/{task['task_id']}",
                  200 if everyone or task["assignee"] in (person, None) else 404,
                  shows_case=everyone or task["assignee"] in (person, None))
            for task in tasks
        ]  # fmt: skip

    gets_tasks = any(task["assignee"] == person for task in tasks)
    meetings = [Visit("/meetings"), Visit(meeting, shows_case=True)]
    if person in ADVISORS:
        return [
            Visit("/now", shows_case=True), Visit("/tasks", shows_case=gets_tasks),
            *task_pages(everyone=False), Visit(f"/cases/{case}", shows_case=True),
            Visit("/directory"),
        ]  # fmt: skip
    if person == HEAD:
        return [
            Visit("/now", shows_case=True), Visit("/tasks", shows_case=True),
            *task_pages(everyone=True), Visit(f"/cases/{case}", shows_case=True),
            Visit("/head"), Visit("/head/rota"), Visit("/head/figures"), *meetings,
            Visit("/directory"), Visit("/head/calendar-import"), Visit("/training"),
            Visit("/reports"),
        ]  # fmt: skip
    assert person == COORDINATOR
    return [Visit("/now", shows_case=True), *meetings, Visit("/training")]


async def check_pages(
    running: ConsoleSystem, page: Page, person: str, visits: list[Visit], case: str,
    canaries: Canaries,
) -> None:  # fmt: skip
    for visit in visits:
        answer = await page.goto(f"{running.console_url}{visit.path}")
        assert answer is not None
        assert answer.status == visit.status, f"{person} {visit.path}: {answer.status}"
        if visit.path == "/now":  # the alert list as the page's polling fills it
            await expect(page.locator("#open-alerts")).to_contain_text(case)
        for text in (await answer.text(), await page.content()):
            if visit.shows_case:
                assert case in text, f"{person} {visit.path} does not show {case}"
            canaries.assert_absent(text, f"{person}'s {visit.path}")


async def check_downloads(
    running: ConsoleSystem, context: BrowserContext, person: str, meeting: str, case: str,
    canaries: Canaries,
) -> None:  # fmt: skip
    """The agenda's PDF (its text, every page) and calendar file, through the console."""
    pdf = await context.request.get(f"{running.console_url}{meeting}/agenda.pdf")
    assert pdf.status == 200, f"{person}: {pdf.status}"
    assert pdf.headers["content-type"].startswith("application/pdf")
    reader = PdfReader(io.BytesIO(await pdf.body()))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert case in text, f"{case} not in the agenda PDF:\n{text}"
    canaries.assert_absent(text, f"{person}'s agenda.pdf")
    ics = await context.request.get(f"{running.console_url}{meeting}/agenda.ics")
    assert ics.status == 200, f"{person}: {ics.status}"
    calendar = await ics.text()
    assert "BEGIN:VCALENDAR" in calendar
    canaries.assert_absent(calendar, f"{person}'s agenda.ics")


async def test_no_identifier_reaches_a_page_a_document_or_a_log(
    console_system: ConsoleSystem, browser: Browser
) -> None:
    canaries = make_canaries()
    case = await post_contact_document(console_system, canary_contact(canaries))

    async def paged() -> bool:
        try:
            return bool((await alert_for(console_system, case))["paged_person_ids"])
        except AssertionError:
            return False

    await eventually(paged, bool, 30, "the case's alert paging someone")
    tasks = await eventually(
        lambda: case_tasks(console_system, case), lambda found: len(found) == 6, 30, "tasks"
    )
    meeting = await meeting_of(console_system, case)
    referred = await refer_every_need(console_system, tasks)

    for person in (*ADVISORS, COORDINATOR, HEAD):
        context, page = await signed_in(browser, console_system, person)
        try:
            visits = pages_for(person, case, tasks, meeting)
            await check_pages(console_system, page, person, visits, case, canaries)
            if person in (HEAD, COORDINATOR):
                await check_downloads(console_system, context, person, meeting, case, canaries)
            if person != HEAD:
                continue
            # The referral records were on the need tasks' pages searched above.
            await page.goto(f"{console_system.console_url}/tasks/{referred}")
            await expect(page.get_by_test_id("referrals")).to_contain_text("The person declined")
            # The control: one audited reveal shows every canary (so each was stored, and
            # the search above would have found it), and only on this page.
            await page.goto(f"{console_system.console_url}/cases/{case}")
            await page.get_by_label("Why do you need the personal data?").fill(
                "Canary check of the console's pages"
            )
            await page.get_by_role("button", name="Show personal data").click()
            revealed = page.locator("[data-personal]")
            await expect(revealed.get_by_text(canaries.posted["person.name"])).to_be_visible()
            shown = await revealed.inner_text()
            missing = [label for label, value in canaries.posted.items() if value not in shown]
            assert not missing, f"the reveal does not show {missing}:\n{shown}"
        finally:
            await context.close()
    assert vault_reads(console_system, case) == [
        (HEAD, "Canary check of the console's pages", "read")
    ]

    # The logs: the reveal is in them (so they are the right, non-empty logs), the values not.
    reveal_path = f"/cases/{case}/personal-data"
    log = console_system.console_log
    await wait_until(
        lambda: reveal_path in log.read_text(errors="replace"), 10, "the reveal logged"
    )
    console_log = log.read_text(errors="replace")
    canaries.assert_absent(console_log, "the console's log")
    service_logs = console_system.live.logs()
    assert any('"vault_read"' in line and case in line for line in service_logs.splitlines()), (
        "intake did not log the read"
    )
    canaries.assert_absent(service_logs, "the services' logs")

    # And what went to phones and mailboxes: the case's pages (found by its reference), no values.
    sent = [text for item in console_system.gateway.received for text in (item.title, item.message)]
    assert any(case in text for text in sent), "no SMS or call about the case"
    mail = [raw.decode(errors="replace") for raw in console_system.smtp.inbox.raw]
    canaries.assert_absent("\n".join(sent), "the SMS and calls")
    canaries.assert_absent("\n".join(mail), "the e-mails")


def test_the_canary_search_finds_what_it_looks_for() -> None:
    """The search itself, without a browser: a value, its unique part, and one broken across
    lines are found; the example contact's values are not canaries."""
    canaries = make_canaries()
    name = canaries.posted["person.name"]
    assert canaries.found_in(f"<td>{name}</td>") == ["person.name", "person.name (tag)"]
    assert "person.name (tag)" in canaries.found_in(name.split()[-1])
    assert "notes" in canaries.found_in(canaries.posted["notes"].replace(" ", "\n"))
    example = json.loads(contact_document())
    assert not canaries.found_in(json.dumps(example))
