"""The funder's quarterly reports in the browser, for the head of service:

- Funder's reports (from the menu): a badly named quarter and one not yet ended are refused in
  words beside the field; a rebuild of the last quarter to have ended appears as its next version
  (version 1 if casework's quarter timer, every 15 minutes, has not published it yet).
- The quarter's page shows exactly the figures the meeting scheduler's API holds for it, section
  by section, and its PDF and CSV download through the console.
- The coordinator has no menu link to them, and the pages and files answer 403.

axe-core checks each page. The quarter is worked out here from the calendar (financial quarters
from April, in London), not with the services' own arithmetic."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Any

import httpx
from playwright.async_api import Browser, Page, expect
from pypdf import PdfReader

from shared.clock import LONDON
from tests.browser.conftest import signed_in
from tests.browser.test_directory_and_support import accessible
from tests.support.console_system import COORDINATOR, HEAD, ConsoleSystem
from tests.support.waiting import eventually

HEAD_TOKEN = {"Authorization": "Bearer test-token-head"}


def last_ended_quarter(today: date) -> str:
    """The financial quarter (April start) before the one `today` is in, named as 2026-27-Q2."""
    index = (today.month - 4) % 12 // 3  # 0 for April-June … 3 for January-March
    year = today.year if today.month >= 4 else today.year - 1  # the financial year's first
    index, year = (3, year - 1) if index == 0 else (index - 1, year)
    return f"{year}-{(year + 1) % 100:02d}-Q{index + 1}"


def test_the_quarter_before_is_worked_out_across_the_year_end() -> None:
    assert last_ended_quarter(date(2026, 12, 1)) == "2026-27-Q2"
    assert last_ended_quarter(date(2026, 4, 1)) == "2025-26-Q4"
    assert last_ended_quarter(date(2027, 1, 15)) == "2026-27-Q3"
    assert last_ended_quarter(date(2027, 3, 31)) == "2026-27-Q3"
    assert last_ended_quarter(date(2026, 7, 1)) == "2026-27-Q1"


async def scheduler(running: ConsoleSystem, path: str) -> Any:
    async with httpx.AsyncClient(base_url=running.live["meeting_scheduler"].url) as client:
        answer = await client.get(path, headers=HEAD_TOKEN, timeout=10)
    answer.raise_for_status()
    return answer.json()


async def listed_version(page: Page, console: str, quarter: str) -> int | None:
    await page.goto(f"{console}/reports")
    row = page.locator(f'tr[data-quarter="{quarter}"]')
    if not await row.count():
        return None
    return int(await row.get_by_test_id("report-version").inner_text())


async def rebuild(page: Page, quarter: str) -> None:
    await page.get_by_label("Quarter", exact=True).fill(quarter)
    await page.get_by_role("button", name="Rebuild").click()


async def test_the_head_of_service_reads_rebuilds_and_downloads_a_quarter(
    console_system: ConsoleSystem, browser: Browser
) -> None:
    console = console_system.console_url
    quarter = last_ended_quarter(datetime.now(LONDON).date())
    context, page = await signed_in(browser, console_system, HEAD)
    try:
        await page.get_by_role("link", name="Funder's reports").click()
        await page.wait_for_url(f"{console}/reports")
        first = await listed_version(page, console, quarter) or 0
        await accessible(page, "the reports page")

        await rebuild(page, "2026-Q2")
        await expect(page.get_by_test_id("report-errors")).to_contain_text(
            "Enter a quarter's name such as 2026-27-Q2"
        )
        await expect(page.get_by_label("Quarter", exact=True)).to_have_value("2026-Q2")
        await accessible(page, "the reports page with an error")
        await rebuild(page, "2099-00-Q1")
        await expect(page.get_by_test_id("report-errors")).to_contain_text("has not ended yet")

        await rebuild(page, quarter)
        await expect(
            page.get_by_text(f"{quarter} rebuilt from casework's data as version")
        ).to_be_visible()
        await eventually(
            lambda: listed_version(page, console, quarter), lambda v: v == first + 1, 30,
            f"version {first + 1} of {quarter} rendered by the scheduler",
        )  # fmt: skip

        await page.get_by_role("link", name=quarter, exact=True).click()
        await page.wait_for_url(f"{console}/reports/{quarter}")
        held = await scheduler(console_system, f"/v1/reports/quarterly/{quarter}")
        assert held["version"] == first + 1
        shown = [
            [cell.strip() for cell in await row.locator("th, td").all_inner_texts()]
            for row in await page.get_by_test_id("report-row").all()
        ]
        expected = [
            [row["figure"], row["quarter"] or "–", row["project_to_date"] or "–"]
            for row in held["figures"]
        ]
        assert shown == expected
        captions = await page.locator("caption").all_inner_texts()
        assert captions == list(dict.fromkeys(row["section"] for row in held["figures"]))
        await accessible(page, "a quarter's report page")

        pdf = await page.request.get(f"{console}/reports/{quarter}/report.pdf")
        assert pdf.status == 200
        assert pdf.headers["content-type"] == "application/pdf"
        text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(await pdf.body())).pages)
        assert quarter in text
        assert pdf.headers["cache-control"] == "no-store"
        csv_file = await page.request.get(f"{console}/reports/{quarter}/report.csv")
        assert csv_file.status == 200
        rows = list(csv.reader(io.StringIO((await csv_file.body()).decode("utf-8"))))
        assert rows[0] == held["columns"]
        assert [row[1:] for row in rows[1:]] == [
            [r["figure"], r["quarter"], r["project_to_date"]] for r in held["figures"]
        ]
    finally:
        await context.close()

    context, page = await signed_in(browser, console_system, COORDINATOR)
    try:
        await expect(page.get_by_role("link", name="Funder's reports")).to_have_count(0)
        for path in ("/reports", f"/reports/{quarter}", f"/reports/{quarter}/report.pdf"):
            answer = await page.request.get(f"{console}{path}")
            assert answer.status == 403, path
            assert not answer.headers["content-type"].startswith("application/pdf")
    finally:
        await context.close()
