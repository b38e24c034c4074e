"""The coordinator's edits on the real broker, SQLite and PostgreSQL: a partial reorder (the cases
named first, the rest by urgency then age), a reorder naming an unknown case changes nothing,
edits without a token are refused and change nothing, and a withdrawn item is gone from this
agenda and from every later one, while the other cases carry over as reviews."""

from __future__ import annotations

import re
from contextlib import AsyncExitStack
from datetime import UTC, datetime

import httpx
import pytest

from services.meeting_scheduler.main import create_app as create_scheduler
from services.meeting_scheduler.settings import SchedulerSettings
from shared.clock import FixedClock
from shared.events import Urgency
from shared.topics import REFERRALS
from tests.support import system
from tests.support.databases import DatabaseUrls
from tests.support.events import referral
from tests.support.kafka import produce
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

MEETING = "/v1/meetings/case-panel/2026-12-02"  # Wednesday; cut-off Monday 30 Nov 12:00
NEXT_MEETING = "/v1/meetings/case-panel/2026-12-09"
URGENCIES = {
    "MS-2026-COORD1": Urgency.ROUTINE,
    "MS-2026-COORD2": Urgency.PRIORITY,
    "MS-2026-COORD3": Urgency.IMMEDIATE,
    "MS-2026-COORD4": Urgency.ROUTINE,
}
CASE_ROW = re.compile(r"^\| \d+ \| (MS-\d{4}-[A-Z0-9]+) \|", re.MULTILINE)


def section(markdown: str, title: str) -> list[str]:
    """Case references in the table under the numbered heading `## N. title`, in order."""
    heading = re.search(rf"^## \d+\. {re.escape(title)}\n", markdown, re.MULTILINE)
    if heading is None:
        return []
    return CASE_ROW.findall(markdown[heading.end() :].split("\n## ")[0])


async def agenda(client: httpx.AsyncClient, meeting: str = MEETING) -> str:
    response = await client.get(f"{meeting}/agenda.md")
    assert response.status_code == 200
    return response.text


async def test_coordinator_edits_on_the_real_broker(
    kafka_bootstrap: str, topic_prefix: str, database_urls: DatabaseUrls
) -> None:
    clock = FixedClock(datetime(2026, 11, 29, 12, 0, tzinfo=UTC))  # Sunday, before the cut-off
    settings = SchedulerSettings(
        **system.common(kafka_bootstrap, topic_prefix, await database_urls.new("meetings")),
        **system.TEST_SETTINGS_MEETINGS,
    )
    async with AsyncExitStack() as stack:
        running = await system.start(
            stack, {"meeting_scheduler": create_scheduler(settings, clock)}
        )
        client = running.client("meeting_scheduler")
        anonymous = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=running.apps["meeting_scheduler"].http_app),
            base_url="http://meeting_scheduler",
        )
        for reference, urgency in URGENCIES.items():
            event = referral(reference, clock.now(), urgency)
            await produce(kafka_bootstrap, REFERRALS.full_name(topic_prefix),
                          event.model_dump_json().encode(), key=reference.encode())  # fmt: skip
        text = await eventually(
            lambda: agenda(client),
            lambda md: len(section(md, "New cases")) == 4,
            what="four new items",
        )
        # Most urgent first, then oldest (all arrived together: then by reference).
        default = ["MS-2026-COORD3", "MS-2026-COORD2", "MS-2026-COORD1", "MS-2026-COORD4"]
        assert section(text, "New cases") == default

        # A partial order: the two named lead, the others follow in the default order.
        response = await client.post(
            f"{MEETING}/order", json={"case_references": ["MS-2026-COORD4", "MS-2026-COORD2"]}
        )
        assert response.status_code == 204
        ordered = ["MS-2026-COORD4", "MS-2026-COORD2", "MS-2026-COORD3", "MS-2026-COORD1"]
        assert section(await agenda(client), "New cases") == ordered

        # An unknown case anywhere in the list: 404, and none of the others moved.
        response = await client.post(
            f"{MEETING}/order",
            json={"case_references": ["MS-2026-COORD1", "MS-2026-NOTHERE", "MS-2026-COORD3"]},
        )
        assert response.status_code == 404
        assert section(await agenda(client), "New cases") == ordered

        # Without a token: 401 for every edit, and nothing changed.
        refused = [
            await anonymous.post(f"{MEETING}/order",
                                 json={"case_references": ["MS-2026-COORD1"]}),
            await anonymous.post(f"{MEETING}/items/MS-2026-COORD2/withdraw",
                                 json={"reason": "not a coordinator"}),
            await anonymous.post(f"{MEETING}/items/MS-2026-COORD2/defer"),
            await anonymous.post(f"{MEETING}/other-business", json={"text": "Anyone's item"}),
        ]  # fmt: skip
        assert [r.status_code for r in refused] == [401, 401, 401, 401]
        text = await agenda(client)
        assert section(text, "New cases") == ordered
        # The refused POST added no other business.
        assert "Anyone's item" not in text
        assert "## 6. Any other business\n\nNone raised before the meeting." in text

        # Withdrawn: gone from this meeting and from the next, where the rest are reviews.
        response = await client.post(
            f"{MEETING}/items/MS-2026-COORD2/withdraw", json={"reason": "duplicate of another case"}
        )
        assert response.status_code == 204
        assert section(await agenda(client), "New cases") == [
            "MS-2026-COORD4", "MS-2026-COORD3", "MS-2026-COORD1"]  # fmt: skip
        later = await agenda(client, NEXT_MEETING)
        assert section(later, "New cases") == []
        assert section(later, "Reviews carried over") == [
            "MS-2026-COORD3", "MS-2026-COORD1", "MS-2026-COORD4"]  # fmt: skip
        meetings = {
            m["starts_at"]: (m["items"], m["reviews"])
            for m in (await client.get("/v1/meetings")).json()
            if m["series_id"] == "case-panel"
        }
        assert meetings["2026-12-02T10:00:00Z"] == (3, 0)
        assert meetings["2026-12-09T10:00:00Z"] == (0, 3)
        assert meetings["2026-12-16T10:00:00Z"] == (0, 3)
        again = await client.post(
            f"{MEETING}/items/MS-2026-COORD2/withdraw", json={"reason": "duplicate of another case"}
        )
        assert again.status_code == 404, "a withdrawn item cannot be withdrawn twice"
