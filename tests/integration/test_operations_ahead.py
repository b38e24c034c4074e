"""A police operation announced ahead, end to end on the real broker, SQLite and PostgreSQL (#15
part 3): the head of service puts both advisors on leave over the next hour; the police announce
an operation in that hour (signed, like a contact) and then correct it; the notifier warns the
head of service at once, exactly once, and (the day-before reminder's time long past) sends the
hour-before reminder at once, to the head of service as nobody is on duty. Contacts arrive under
the operation (spelt differently) and one under another; when the window has ended, the first
case-panel agenda after it carries the operation's debrief with counts computed here from what
was sent (tasks opened: casework's own table), small numbers suppressed."""

from __future__ import annotations

import asyncio
import json
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from services.casework.adapters.tables import tasks
from services.meeting_scheduler.operations import debriefs_for
from services.notifier.adapters.tables import alerts, notifications
from shared.db import create_engine
from shared.topics import REFERRALS, TASKS
from tests.support import system
from tests.support.databases import DatabaseUrls, count_rows, wait_outbox_relayed
from tests.support.kafka import wait_consumed
from tests.support.safeguarding_paths import rows
from tests.support.smtp import SmtpSink
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

OPERATION = "Operation Kestrel HC"


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


async def _announce(intake: Any, document: dict[str, Any]) -> Any:
    body = json.dumps(document).encode()
    return await intake.post("/v1/operations", content=body, headers=system.signed(body))


async def test_announced_operation_warns_once_and_is_debriefed_on_the_next_case_panel(
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
                stack, kafka_bootstrap, topic_prefix, database_urls
            )
            intake, notifier = running.client("intake"), running.client("notifier")
            meetings = running.client("meeting_scheduler")
            urls = running.databases

            # Nobody on duty for the next two hours: both advisors on leave.
            now = datetime.now(UTC)
            quarter = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
            for advisor in ("advisor-day", "advisor-night"):
                leave = await notifier.post(
                    "/v1/rota/changes",
                    json={"kind": "leave", "person_id": advisor,
                          "starts_at": _rfc3339(quarter), "ends_at": _rfc3339(quarter + timedelta(hours=2))},
                )  # fmt: skip
                assert leave.status_code == 201, leave.text

            starts = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
            ends = starts + timedelta(seconds=3)
            announcement = {
                "force_code": "NFK", "operation": OPERATION, "district": "norwich",
                "starts_at": _rfc3339(starts), "ends_at": _rfc3339(ends), "expected_victims": 4,
            }  # fmt: skip
            first = await _announce(intake, announcement)
            assert first.status_code == 202, first.text
            group = first.json()["operation_group"]
            assert first.json() == {"operation_group": group, "version": 1, "outcome": "opened"}
            again = await _announce(intake, announcement)
            assert (again.status_code, again.json()["outcome"]) == (200, "replayed")
            corrected = await _announce(intake, announcement | {"expected_victims": 6})
            assert (corrected.status_code, corrected.json()["version"]) == (202, 2)

            # The head of service is told at once, by e-mail.
            def about(subject: str) -> list[Any]:
                return [
                    message for message in smtp.inbox.messages
                    if subject in str(message["subject"])
                    and str(message["To"]) == "head-of-service@safeguarding.local"
                ]  # fmt: skip

            await eventually(
                lambda: asyncio.sleep(0, about("Operation ahead needs arranging")),
                lambda found: len(found) == 1,
                what="the head of service's warning",
            )
            await eventually(
                lambda: asyncio.sleep(0, about(f"Police operation {OPERATION}")),
                lambda found: len(found) == 1,
                what="the hour-before reminder, sent at once",
            )
            # Both versions consumed: still one warning, one reminder (the day-before's time had
            # passed when it was announced), each to the head of service only.
            await wait_outbox_relayed(urls["intake"])
            await wait_consumed(kafka_bootstrap, "notifier", [REFERRALS.full_name(topic_prefix)])
            for kind in ("operation_warning", "operation_reminder"):
                people = sa.select(notifications.c.person_id).join(
                    alerts, alerts.c.alert_id == notifications.c.alert_id
                ).where(alerts.c.kind == kind)  # fmt: skip
                assert {row["person_id"] for row in await rows(urls["notifier"], people)} == {
                    "head-of-service"
                }
                counted = (
                    sa.select(sa.func.count()).select_from(alerts).where(alerts.c.kind == kind)
                )
                assert await count_rows(urls["notifier"], counted) == 1, kind

            # Contacts under the operation, once it has started: 3 children, 3 adults who gave
            # consent to the NRM, 1 who declined; and one contact under another operation.
            await asyncio.sleep(max(0.0, (starts - datetime.now(UTC)).total_seconds()))
            sent: list[tuple[str, bool, str]] = []
            # (Spellings the notifier's message allow-list takes: tests/support/allow_list.py.)
            spellings = ("Op Kestrel HC", "Operation kestrel  hc", "Op KESTREL HC")
            met = [("child", "not_asked")] * 3 + [("adult", "given")] * 3 + [("adult", "declined")]
            for number, (age, consent) in enumerate([*met, ("adult", "given")]):
                contact = json.loads(example_contact)
                contact["police_reference"] = f"NFK/2026/OPHC{number}"
                contact["recorded_at"] = _rfc3339(datetime.now(UTC))
                contact["operation"] = spellings[number % 3] if number < 7 else "Op Elsewhere"
                contact["nrm_consent"] = consent
                contact["immediate_risk"] = False
                if age == "child":
                    contact["person"] |= {"date_of_birth": None, "age_estimate": 15}
                posted = await system.post_contact(intake, json.dumps(contact).encode())
                assert posted.status_code == 202, posted.text
                if number < 7:
                    sent.append((posted.json()["case_reference"], age == "child", consent))
            references = [reference for reference, _, _ in sent]

            # Everything consumed: referrals by casework and the scheduler, tasks by the scheduler.
            await wait_outbox_relayed(urls["intake"])
            await wait_consumed(
                kafka_bootstrap, ["casework", "meeting_scheduler"],
                [REFERRALS.full_name(topic_prefix)],
            )  # fmt: skip
            await wait_outbox_relayed(urls["casework"])
            await wait_consumed(
                kafka_bootstrap, "meeting_scheduler.tasks", [TASKS.full_name(topic_prefix)]
            )
            opened = await count_rows(
                urls["casework"],
                sa.select(sa.func.count())
                .select_from(tasks)
                .where(tasks.c.case_reference.in_(references)),
            )
            assert opened > 0
            expected = {
                "contacts": 7,
                "children": sum(child for _, child, _ in sent),
                "consent_given": sum(consent == "given" for _, _, consent in sent),
                "consent_declined": sum(consent == "declined" for _, _, consent in sent),
                "tasks_opened": opened,
            }
            assert expected["children"] == 3
            assert expected["consent_declined"] == 1

            # The window ends; the debrief is on the first case panel whose cut-off is after it.
            await asyncio.sleep(max(0.0, (ends - datetime.now(UTC)).total_seconds()))
            listed = (await meetings.get("/v1/meetings")).json()
            panels = sorted(
                (m for m in listed if m["series_id"] == "case-panel"), key=lambda m: m["starts_at"]
            )
            target = next(m for m in panels if datetime.fromisoformat(m["cutoff_at"]) > ends)
            agenda = (await meetings.get(target["agenda_url"].removesuffix(".md"))).json()
            [debrief] = agenda["operation_debriefs"]

            def shown(value: int) -> int | None:
                return None if 0 < value < 3 else value

            assert debrief == {
                "operation": OPERATION, "operation_group": group, "district": "norwich",
                "starts_at": _rfc3339(starts), "ends_at": _rfc3339(ends), "expected_victims": 6,
                **{name: shown(value) for name, value in expected.items()},
            }  # fmt: skip
            engine = create_engine(urls["meeting_scheduler"])
            try:
                [debriefed] = await debriefs_for(
                    engine, "case-panel", datetime.fromisoformat(target["starts_at"])
                )
            finally:
                await engine.dispose()
            assert {name: getattr(debriefed, name) for name in expected} == expected

            markdown = (await meetings.get(target["agenda_url"])).text
            assert "## 6. Police operations debrief" in markdown
            assert "## 7. Any other business" in markdown
            row = next(
                line for line in markdown.splitlines() if line.startswith(f"| {OPERATION} |")
            )
            cells = [cell.strip() for cell in row.strip("|").split("|")]
            printed = ["fewer than 3" if 0 < v < 3 else str(v) for v in expected.values()]
            assert cells[0:2] == [OPERATION, "Norwich"]
            assert cells[3:] == printed
            html = (await meetings.get(target["agenda_url"].replace(".md", ".html"))).text
            assert "Police operations debrief" in html
            # Only there: the next case panel has no debrief.
            later = next(m for m in panels if m["starts_at"] > target["starts_at"])
            after = (await meetings.get(later["agenda_url"].removesuffix(".md"))).json()
            assert after["operation_debriefs"] == []
