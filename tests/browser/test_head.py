"""The head of service in the browser: leave and cover on the rota form change who the notifier
pages (a gap opens and closes in its own API, and on the service overview), a refused change
changes nothing, an alert nobody answers is shown escalating, and the funders' figures are the
services' own, as the databases count them."""

from __future__ import annotations

import re
import sqlite3
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Browser, Locator, Page, expect

from shared.clock import LONDON
from tests.browser.conftest import signed_in
from tests.browser.test_now import alert_for, post_contact, texts_to
from tests.support.browser import PHONE
from tests.support.console_system import HEAD, ConsoleSystem
from tests.support.waiting import eventually

HEAD_TOKEN = {"Authorization": "Bearer test-token-head"}  # notifier and casework accept it
# Alerts about a case, the only kind the alerting figures count (a reminder or a rota-gap notice
# is not answered by taking a case).
CASE_ALERT_KINDS = ("referral", "child_referral", "grouped")


async def notifier(running: ConsoleSystem, path: str, **params: Any) -> Any:
    async with httpx.AsyncClient(base_url=running.live["notifier"].url, timeout=10) as client:
        answer = await client.get(path, params=params, headers=HEAD_TOKEN)
    answer.raise_for_status()
    return answer.json()


async def casework(running: ConsoleSystem, path: str) -> Any:
    async with httpx.AsyncClient(base_url=running.live["casework"].url, timeout=10) as client:
        answer = await client.get(path, headers=HEAD_TOKEN)
    answer.raise_for_status()
    return answer.json()


async def rota_days(running: ConsoleSystem) -> list[dict[str, Any]]:
    days: list[dict[str, Any]] = (await notifier(running, "/v1/rota", days=14))["days"]
    return days


def on(days: list[dict[str, Any]], day: date) -> dict[str, Any]:
    return next(item for item in days if item["date"] == day.isoformat())


def gaps(day: dict[str, Any]) -> list[tuple[datetime, datetime]]:
    return [
        (datetime.fromisoformat(gap["start"]), datetime.fromisoformat(gap["end"]))
        for gap in day["gaps"]
    ]


def held_by(day: dict[str, Any], start: datetime, end: datetime) -> list[str | None]:
    """Who the notifier's rota has on duty over [start, end): one entry per period it is cut in."""
    return [
        period["person_id"]
        for period in day["periods"]
        if datetime.fromisoformat(period["start"]) < end
        and start < datetime.fromisoformat(period["end"])
    ]


def rota_row(page: Page, day: date) -> Locator:
    return page.locator("[data-testid=rota] tbody tr").filter(
        has=page.locator("td[data-label=Day]", has_text=day.isoformat())
    )


def as_shown(moment: datetime) -> str:
    """How the console writes a time in a list: London wall-clock, e.g. "09:00, Tue 01 Dec"."""
    return moment.astimezone(LONDON).strftime("%H:%M, %a %d %b")


async def add_change(
    page: Page, kind: str, person: str, starts: datetime | str, ends: datetime | str
) -> None:
    """Fill in the rota form as a person does: radio, select, two datetime-local inputs."""
    await page.locator(f"#kind-{kind}").check()
    await page.get_by_label("Person").select_option(person)
    for field, value in (("starts_at", starts), ("ends_at", ends)):
        text = value if isinstance(value, str) else value.strftime("%Y-%m-%dT%H:%M")
        await page.locator(f"#{field}").fill(text)
    await page.get_by_role("button", name="Add to the rota").click()


def tomorrow_london(hour_from: int, hour_to: int) -> tuple[date, datetime, datetime]:
    day = datetime.now(LONDON).date() + timedelta(days=1)
    return (
        day,
        datetime.combine(day, time(hour_from), tzinfo=LONDON),
        datetime.combine(day, time(hour_to), tzinfo=LONDON),
    )


async def test_leave_opens_a_gap_cover_closes_it_and_removing_both_restores_the_rota(
    console_system: ConsoleSystem, browser: Browser
) -> None:
    # Tomorrow morning lies inside advisor-day's 08:00–20:00 shift (deploy/config/rota.yaml), so
    # their leave must leave exactly these three hours to nobody.
    day, starts, ends = tomorrow_london(9, 12)
    before = await rota_days(console_system)
    assert gaps(on(before, day)) == [], "the shipped rota should have no gap tomorrow"
    assert held_by(on(before, day), starts, ends) == ["advisor-day"]
    gap_listed = f"{as_shown(starts)} to {as_shown(ends)}"

    context, page = await signed_in(browser, console_system, HEAD, PHONE)
    try:
        await page.goto(f"{console_system.console_url}/head/rota")
        await expect(rota_row(page, day).locator("[data-testid=gap]")).to_have_count(0)

        await add_change(page, "leave", "advisor-day", starts, ends)
        await expect(page.get_by_text("Leave added for advisor-day")).to_be_visible()
        await expect(rota_row(page, day).locator("[data-testid=gap]")).to_have_text(
            ["Gap 09:00–12:00"]
        )
        # The notifier pages from the same rota: its own API has the gap and nobody on duty.
        after_leave = on(await rota_days(console_system), day)
        assert gaps(after_leave) == [(starts, ends)]
        assert held_by(after_leave, starts, ends) == [None]
        await page.goto(f"{console_system.console_url}/head")
        await expect(page.get_by_role("listitem").filter(has_text=gap_listed)).to_have_count(1)

        await page.goto(f"{console_system.console_url}/head/rota")
        await add_change(page, "cover", "advisor-night", starts, ends)
        await expect(page.get_by_text("Cover added for advisor-night")).to_be_visible()
        await expect(rota_row(page, day).locator("[data-testid=gap]")).to_have_count(0)
        after_cover = on(await rota_days(console_system), day)
        assert gaps(after_cover) == []
        assert held_by(after_cover, starts, ends) == ["advisor-night"]
        await page.goto(f"{console_system.console_url}/head")
        await expect(page.get_by_text("Rota gaps in the next 14 days")).to_be_visible()
        await expect(page.get_by_role("listitem").filter(has_text=gap_listed)).to_have_count(0)

        await page.goto(f"{console_system.console_url}/head/rota")
        for kind, person in (("leave", "advisor-day"), ("cover", "advisor-night")):
            entry = page.get_by_role("listitem").filter(
                has_text=f"{kind.capitalize()}: {person}, {gap_listed}"
            )
            await entry.get_by_role("button", name=f"Remove {kind} for {person}").click()
            await expect(page.get_by_text("Rota change removed.")).to_be_visible()
            await expect(entry).to_have_count(0)
        assert await rota_days(console_system) == before
        assert not [
            change
            for change in (await notifier(console_system, "/v1/rota/changes"))["changes"]
            if change["person_id"] in ("advisor-day", "advisor-night")
            and datetime.fromisoformat(change["starts_at"]) == starts
        ]
    finally:
        await context.close()


async def test_a_change_ending_before_it_starts_is_refused_and_changes_nothing(
    console_system: ConsoleSystem, browser: Browser
) -> None:
    _, starts, ends = tomorrow_london(12, 9)  # ends at 09:00, three hours before it starts
    changes_before = await notifier(console_system, "/v1/rota/changes")
    rota_before = await rota_days(console_system)
    context, page = await signed_in(browser, console_system, HEAD)
    try:
        await page.goto(f"{console_system.console_url}/head/rota")
        async with page.expect_response(
            lambda r: r.request.method == "POST" and r.url.endswith("/head/rota/changes")
        ) as sent:
            await add_change(page, "leave", "advisor-day", starts, ends)
        assert (await sent.value).status == 422
        summary = page.locator(".govuk-error-summary")
        await expect(summary).to_be_visible()
        await expect(summary.get_by_role("alert")).to_contain_text("The rota was not changed")
        await expect(summary).to_contain_text("ends_at must be after starts_at")
        # What was typed stays in the form, to correct rather than type again.
        await expect(page.locator("#ends_at")).to_have_value(ends.strftime("%Y-%m-%dT%H:%M"))
        assert await notifier(console_system, "/v1/rota/changes") == changes_before
        assert await rota_days(console_system) == rota_before
    finally:
        await context.close()


async def test_an_unanswered_alert_is_shown_escalating_on_the_service_page(
    console_system: ConsoleSystem, browser: Browser
) -> None:
    case = await post_contact(console_system)
    context, page = await signed_in(browser, console_system, HEAD)
    try:

        async def row_text() -> str:
            await page.goto(f"{console_system.console_url}/head")
            row = page.locator("table[aria-labelledby=unanswered] tbody tr").filter(
                has=page.get_by_role("link", name=case, exact=True)
            )
            return " ".join((await row.inner_text()).split()) if await row.count() else ""

        first = await eventually(
            row_text, lambda text: re.search(r"\bstep 1\b", text) is not None, 30, "the first page"
        )
        assert "Escalated" not in first
        assert (await alert_for(console_system, case))["status"] == "open"

        # Steps are 20 s apart in this system: the second makes it an escalation.
        shown = await eventually(row_text, lambda text: "Escalated" in text, 60, "escalation")
        step = re.search(r"step (\d+)", shown)
        assert step is not None, shown
        assert int(step[1]) >= 2, shown
        alert = await alert_for(console_system, case)
        assert alert["status"] == "open"
        assert int(str(alert["steps_fired"])) >= int(step[1])
        assert await texts_to(console_system, case) >= 2  # paged again, at the gateway
    finally:
        await context.close()


def counted_in_databases(folder: Path) -> tuple[int, dict[str, int]]:
    """Adults taken on (casework's cases that are not a child's) and case alerts by urgency
    (the notifier's), read from the services' own SQLite files rather than their APIs."""

    def query(name: str, sql: str, *args: str) -> list[Any]:
        with sqlite3.connect(f"file:{folder / f'{name}.sqlite3'}?mode=ro", uri=True) as db:
            return db.execute(sql, args).fetchall()

    adults = query("casework", "SELECT count(*) FROM cases WHERE pathway != 'child'")[0][0]
    marks = ",".join("?" * len(CASE_ALERT_KINDS))
    alerts = query(
        "notifier",
        f"SELECT urgency, count(*) FROM alerts WHERE kind IN ({marks}) GROUP BY urgency",
        *CASE_ALERT_KINDS,
    )
    return int(adults), {str(urgency): int(count) for urgency, count in alerts}


async def test_the_figures_page_shows_the_services_figures(
    console_system: ConsoleSystem, browser: Browser
) -> None:
    case = await post_contact(console_system)
    await eventually(
        lambda: casework(console_system, f"/v1/cases/{case}/tasks"), bool, 30, "the case taken on"
    )
    folder = console_system.console_log.parent
    context, page = await signed_in(browser, console_system, HEAD)
    try:

        async def seen() -> dict[str, Any]:
            """The page, both APIs and the databases, read together (other tests' contacts may
            move the numbers in between: a mismatch is read again)."""
            await page.goto(f"{console_system.console_url}/head/figures")
            rows = await page.locator("table:has(caption:text('by urgency')) tbody tr").all()
            cells = [
                [" ".join(text.split()) for text in await row.locator("td").all_inner_texts()]
                for row in rows
            ]
            return {
                "page_supported": await page.get_by_test_id("people-supported").inner_text(),
                "supported_label": await chart(page, "People supported"),
                "ack_label": await chart(page, "Alerts acknowledged"),
                "page_rows": cells,
                "casework": await casework(console_system, "/v1/figures"),
                "alerting": (await notifier(console_system, "/v1/figures"))["by_urgency"],
                "databases": counted_in_databases(folder),
            }

        def consistent(found: dict[str, Any]) -> bool:
            people, target = found["casework"]["people_supported"], found["casework"]["target"]
            alerts = {row["urgency"]: row["alerts"] for row in found["alerting"]}
            adults, by_urgency = found["databases"]
            return bool(
                found["page_supported"] == str(people)
                and adults == people
                and {u: n for u, n in alerts.items() if n} == by_urgency
                and found["supported_label"]
                == f"People supported against the three-year target: {people} of {target} "
                f"({round(100 * people / target)}%)"
                and found["page_rows"] == [expected_row(row) for row in found["alerting"]]
                and found["ack_label"]
                == "Alerts acknowledged within target, by urgency (per cent). "
                + "; ".join(
                    f"{row['urgency']}: {row['within_target_percent'] or 0:g}%"
                    for row in found["alerting"]
                )
            )

        found = await eventually(seen, consistent, 30, "the page agreeing with the services")
        assert found["casework"]["people_supported"] >= 1  # this test's case at least
        immediate = next(row for row in found["alerting"] if row["urgency"] == "immediate")
        assert immediate["alerts"] >= 1
        assert immediate["within_target"] <= immediate["alerts"]
    finally:
        await context.close()


async def chart(page: Page, title: str) -> str | None:
    """The text alternative of the chart whose title starts with `title` (an image to a reader)."""
    return await page.locator(f"svg[role=img][aria-label^='{title}']").get_attribute("aria-label")


def expected_row(row: dict[str, Any]) -> list[str]:
    """The acknowledgement table's cells for one of the notifier's figures, derived here."""
    percent = row["within_target_percent"]
    median = row["median_minutes_to_acknowledge"]
    return [
        row["urgency"],
        f"{row['target_minutes']} min",
        str(row["alerts"]),
        f"{row['within_target']}" + (f" ({percent}%)" if percent is not None else ""),
        str(median) if median is not None else "–",
    ]
