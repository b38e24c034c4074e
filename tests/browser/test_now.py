"""The advisor's first minutes: sign in through Keycloak, watch "Now", see a new police contact
appear there without reloading, acknowledge it from the page, and the escalation stops at the
SMS gateway stand-in, while a second alert left alone escalates on time (the control that shows
the wait was long enough to see a step)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
from playwright.async_api import Browser, expect

from tests.browser.conftest import signed_in
from tests.support import system
from tests.support.browser import DESKTOP, PHONE, screenshot
from tests.support.console_system import ConsoleSystem
from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]
HEAD_TOKEN = {"Authorization": "Bearer test-token-head"}  # the notifier's static test token


def contact(immediate: bool = True) -> bytes:
    body = json.loads((ROOT / "docs" / "examples" / "police-contact.v1.json").read_text())
    body["police_reference"] = f"NFK/2026/{uuid.uuid4().int % 10**6:06d}"
    body["immediate_risk"] = immediate
    return json.dumps(body).encode()


async def post_contact(running: ConsoleSystem, immediate: bool = True) -> str:
    async with httpx.AsyncClient(base_url=running.live["intake"].url, timeout=30) as client:
        answer = await system.post_contact(client, contact(immediate))
    assert answer.status_code == 202, answer.text
    case: str = answer.json()["case_reference"]
    return case


async def alert_for(running: ConsoleSystem, case: str, status: str = "all") -> dict[str, object]:
    async with httpx.AsyncClient(base_url=running.live["notifier"].url, timeout=10) as client:
        answer = await client.get(
            "/v1/alerts", params={"status": status, "case_reference": case}, headers=HEAD_TOKEN
        )
    answer.raise_for_status()
    alerts = answer.json()["alerts"]
    assert alerts, f"no alert yet for {case}"
    found: dict[str, object] = alerts[0]
    return found


async def texts_to(running: ConsoleSystem, case: str) -> int:
    """SMS and voice messages about `case`, to anyone (the message names the case reference)."""
    return sum(1 for item in running.gateway.received if case in item.message)


async def test_a_new_alert_appears_without_reload_and_acknowledging_stops_escalation(
    console_system: ConsoleSystem, browser: Browser
) -> None:
    context, page = await signed_in(browser, console_system, "advisor-day", PHONE)
    try:
        await expect(page.get_by_role("heading", name="Now", exact=True)).to_be_visible()
        loaded_at = await page.evaluate("performance.timeOrigin")
        acknowledged, control = (
            await post_contact(console_system),
            await post_contact(console_system),
        )
        row = page.locator(f"tr:has-text('{acknowledged}')")
        await expect(row).to_be_visible(timeout=30_000)  # arrives by polling, not by a reload
        assert await page.evaluate("performance.timeOrigin") == loaded_at
        await expect(page.locator(f"tr:has-text('{control}')")).to_be_visible()
        await screenshot(page, "now-phone")

        await eventually(
            lambda: texts_to(console_system, acknowledged), lambda n: n > 0, 30, "first page"
        )
        await row.get_by_role("button", name="Acknowledge").click()
        await expect(page.get_by_text("Alert acknowledged")).to_be_visible()
        await expect(page.locator(f"tr:has-text('{acknowledged}')")).to_have_count(0)
        alert = await alert_for(console_system, acknowledged)
        assert alert["status"] == "acknowledged"
        assert alert["acknowledged_by"] == "advisor-day"
        sent_at_ack = await texts_to(console_system, acknowledged)

        # The control's next step is due one step (20 s) after it was raised: once it has fired,
        # the acknowledged alert's would have too.
        first_control_texts = await texts_to(console_system, control)
        await eventually(
            lambda: texts_to(console_system, control),
            lambda n: n > first_control_texts, 60, "the control's second step",
        )  # fmt: skip
        assert await texts_to(console_system, acknowledged) == sent_at_ack
        control_alert = await alert_for(console_system, control)
        assert control_alert["status"] == "open"
        assert int(str(control_alert["steps_fired"])) >= 2
    finally:
        await context.close()


async def test_an_unchanged_alert_list_is_not_swapped_under_the_user(
    console_system: ConsoleSystem, browser: Browser
) -> None:
    """The list polls every 2 s here; a poll that would bring the same list is answered 204, so the
    button a finger or keyboard is on stays the same element (a click is not lost to a swap)."""
    case = await post_contact(console_system)
    context, page = await signed_in(browser, console_system, "advisor-day", DESKTOP)
    polls: list[int] = []
    page.on("response", lambda r: polls.append(r.status) if "/now/alerts" in r.url else None)
    try:
        button = page.locator(f"tr:has-text('{case}')").get_by_role("button", name="Acknowledge")
        await expect(button).to_be_visible(timeout=30_000)

        # The server's side: the digest of the list as it stands gets 204; any other gets the list.
        # Other tests' alerts escalate meanwhile, so a 200 to the digest the page held is right
        # when the list really changed: it then carries a new digest, which is asked for at once.
        polling = await page.locator("#open-alerts").get_attribute("hx-get")
        assert polling
        assert polling.startswith("/now/alerts?seen=")
        headers = {"HX-Request": "true"}
        statuses: list[int] = []
        for _ in range(5):
            same = await page.request.get(f"{console_system.console_url}{polling}", headers=headers)
            statuses.append(same.status)
            if same.status == 204:
                break
            assert same.status == 200, statuses
            answered = re.search(r'hx-get="(/now/alerts\?seen=[^"]*)"', await same.text())
            assert answered, "a changed list carries its own polling URL"
            assert answered.group(1) != polling, (
                "an unchanged list was sent again, not answered 204"
            )
            polling = answered.group(1)
        else:
            raise AssertionError(f"the list changed at every one of 5 polls in a row: {statuses}")
        other = await page.request.get(
            f"{console_system.console_url}/now/alerts?seen=stale", headers=headers
        )
        assert other.status == 200, other.status
        assert case in await other.text()

        # The browser's side: across a poll answered 204 the button is the very same element.
        # Other tests' alerts escalate meanwhile (a real change, answered 200), so the button is
        # marked only after a 204 (no swap still to come) and judged by the next poll alone.
        async def polls_so_far() -> int:
            return len(polls)

        def more_than(count: int) -> Callable[[int], bool]:
            return lambda n: n > count

        for _ in range(15):
            seen = len(polls)
            marked = seen > 0 and polls[-1] == 204
            if marked:
                await button.evaluate("b => { b.dataset.marked = 'yes' }")
            await eventually(polls_so_far, more_than(seen), 10, "a poll")
            if marked and polls[seen] == 204:
                assert await button.get_attribute("data-marked") == "yes"
                break
        else:
            raise AssertionError(f"no two polls in a row were answered 204: {polls}")
    finally:
        await context.close()
