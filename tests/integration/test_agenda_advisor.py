"""The agenda's "Assigned advisor", end to end on the real broker, SQLite and PostgreSQL: two police
contacts reach intake, the notifier emails each alert to the advisor on duty, the advisor
acknowledges one by the link in their email, and the meeting scheduler's agenda names that advisor
for that case (JSON and Markdown) while the other case, never acknowledged, says "not yet
acknowledged". The scheduler consumed every alert event but claimed only the acknowledgement."""

from __future__ import annotations

import json
import re
from contextlib import AsyncExitStack
from email.message import EmailMessage
from typing import Any

import pytest
import sqlalchemy as sa

from services.meeting_scheduler.adapters.tables import processed_events
from shared.topics import ALERTS, REFERRALS
from tests.support import system
from tests.support.databases import DatabaseUrls, count_rows, wait_outbox_relayed
from tests.support.kafka import wait_consumed
from tests.support.smtp import SmtpSink
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

LINK = re.compile(r"Acknowledge: http://127\.0\.0\.1:8002(/ack/\S+) ")
# deploy/config/rota.yaml sends each person's alert email to <their rota id>@safeguarding.local.
ROTA_EMAIL = re.compile(r"^([a-z-]+)@safeguarding\.local$")


def _about(messages: list[EmailMessage], reference: str) -> EmailMessage:
    return next(message for message in messages if reference in str(message["subject"]))


def _rows(markdown: str) -> dict[str, list[str]]:
    """The agenda's table rows by case reference, cells stripped."""
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in markdown.splitlines()]
    return {row[1]: row for row in rows if len(row) > 2 and row[0].isdigit()}


async def test_the_agenda_names_the_advisor_who_acknowledged_and_not_yet_for_the_other(
    kafka_bootstrap: str,
    topic_prefix: str,
    database_urls: DatabaseUrls,
    example_contact: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with SmtpSink() as smtp:
        monkeypatch.setenv("MAIL_SINK_PORT", str(smtp.port))
        async with AsyncExitStack() as stack:
            running = await system.start_services(
                stack, kafka_bootstrap, topic_prefix, database_urls,
                ("intake", "notifier", "meeting_scheduler"),
            )  # fmt: skip
            intake, notifier = running.client("intake"), running.client("notifier")
            meetings = running.client("meeting_scheduler")
            references = []
            for number in range(2):  # two operations: two alerts, not one grouped
                contact = json.loads(example_contact)
                contact["police_reference"] = f"NFK/2026/ADVISOR{number}"
                contact["operation"] = f"Op Advisor {'AB'[number]}"  # letters: the allow-list
                posted = await system.post_contact(intake, json.dumps(contact).encode())
                assert posted.status_code == 202, posted.text
                references.append(posted.json()["case_reference"])
            acknowledged, left_open = references

            messages = await smtp.inbox.wait_for(2, within=15)
            email = _about(messages, acknowledged)
            recipient = ROTA_EMAIL.match(str(email["To"]))
            assert recipient is not None, email["To"]
            advisor = recipient.group(1)  # advisor-day or advisor-night, by the time of day
            body = email.get_body(preferencelist=("plain",))
            assert body is not None
            link = LINK.search(body.get_content())
            assert link is not None
            done = await notifier.post(link.group(1))
            assert "is acknowledged" in done.text

            listed = await eventually(
                lambda: meetings.get("/v1/meetings"),
                lambda response: sum(m["items"] for m in response.json()) == 2,
                what="both cases on an agenda",
            )
            meeting = next(m for m in listed.json() if m["items"] == 2)
            agenda_url = meeting["agenda_url"].removesuffix(".md")

            def advisors(response: Any) -> dict[str, tuple[str | None, str]]:
                return {
                    item["case_reference"]: (item["assigned_advisor"], item["advisor_status"])
                    for item in response.json()["new_items"]
                }

            agenda = await eventually(
                lambda: meetings.get(agenda_url),
                lambda response: advisors(response).get(acknowledged, (None, ""))[0] is not None,
                what="the acknowledgement reaches the agenda",
            )
            assert advisors(agenda) == {
                acknowledged: (advisor, "acknowledged"),
                left_open: (None, "not_yet_acknowledged"),
            }
            markdown = (await meetings.get(meeting["agenda_url"])).text
            header = "| Days since contact | Assigned advisor |"
            assert header in markdown
            rows = _rows(markdown)
            assert rows[acknowledged][-1] == advisor
            assert rows[left_open][-1] == "not yet acknowledged"

            # Every alert event (raised, delivered, acknowledged) consumed; only the
            # acknowledgement claimed: the others are passed over without a transaction.
            await wait_outbox_relayed(running.databases["notifier"])
            await wait_consumed(
                kafka_bootstrap, "meeting_scheduler.alerts", [ALERTS.full_name(topic_prefix)]
            )
            await wait_consumed(
                kafka_bootstrap, "meeting_scheduler", [REFERRALS.full_name(topic_prefix)]
            )
            claimed = sa.select(sa.func.count()).select_from(processed_events)
            assert await count_rows(running.databases["meeting_scheduler"], claimed) == 3
