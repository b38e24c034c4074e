"""The funder's quarterly report on the real broker (SQLite or PostgreSQL): training sessions are
recorded through the meeting scheduler's API, casework's CaseworkQuarterV1 is published onto the
tasks topic (signed as casework signs it), and the head of service gets an e-mail with the PDF and
the CSV, the API answers with the same figures and the same files, and a redelivered event sends
nothing more while a higher version replaces the report. The expected figures are computed here,
from the sessions seeded and the event sent."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from contextlib import AsyncExitStack
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pypdf
import pytest
import yaml

from services.meeting_scheduler.main import create_app as create_scheduler
from services.meeting_scheduler.settings import SchedulerSettings
from services.notifier.main import create_app as create_notifier
from services.notifier.settings import NotifierSettings
from shared.events import CaseworkQuarterV1, QuarterCaseworkFigures
from shared.topics import AGENDA, TASKS
from tests.support import system
from tests.support.databases import DatabaseUrls
from tests.support.kafka import produce
from tests.support.safeguarding_paths import group_caught_up
from tests.support.smtp import SmtpSink

pytestmark = pytest.mark.integration

API_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?Z$")

QUARTER = "2025-26-Q2"  # July to September 2025
# (start, attending or None: planned, never held). Two held in the quarter, one before it.
SESSIONS = [
    ("2025-05-10T10:00", 9),
    ("2025-08-12T14:00", 14),
    ("2025-09-20T09:30", 11),
    ("2025-09-29T09:30", None),
    ("2025-10-02T09:30", 40),  # after the quarter: in neither figure
]
EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun", "bank_holiday"]


def shown(value: int) -> str:
    return "<3" if value in (1, 2) else str(value)


def quarter_event(version: int) -> CaseworkQuarterV1:
    figures = QuarterCaseworkFigures(
        people_supported=8, children=1, adults_declined_nrm=5, adults_other=2,
        hours_to_first_contact_median=2.26, hours_to_first_contact_p90=11.92 + version,
        alerts_acknowledged=8, alerts_acknowledged_within_target=7,
        referrals_by_need_and_outcome={"housing": {"accepted": 4, "made": 1}},
        criminal_justice_by_state={"interview_booked": 3},
    )  # fmt: skip
    return CaseworkQuarterV1(
        occurred_at=datetime(2025, 10, 1, 8, 0, tzinfo=UTC), correlation_id=f"quarter-{QUARTER}",
        producer="casework", quarter=QUARTER, starts_on=date(2025, 7, 1),
        ends_on=date(2025, 9, 30), project_starts=date(2025, 4, 1), target=100, version=version,
        quarter_figures=figures,
        to_date=figures.model_copy(update={"people_supported": 19, "children": 3}),
    )  # fmt: skip


def rota(folder: Path, smtp_port: int) -> Path:
    def email(who: str) -> dict[str, str]:
        return {
            "email": f"mailto://127.0.0.1:{smtp_port}?from=alerts@test.local&to={who}@test.local&mode=insecure"
        }

    people = [
        {"id": "day", "role": "advisor", "channels": email("day")},
        {"id": "head", "role": "head_of_service", "channels": email("head")},
    ]
    weekly = [
        {"days": EVERY_DAY, "start": "08:00", "end": "20:00", "person": "day"},
        {"days": EVERY_DAY, "start": "20:00", "end": "08:00", "person": "day"},
    ]
    path = folder / "rota.yaml"
    path.write_text(yaml.safe_dump({"people": people, "weekly": weekly, "last_resort": "head"}))
    return path


def attachments(message: object) -> dict[str, Any]:
    """File name -> content: bytes for the PDF, text for the CSV (a text/csv part)."""
    return {
        part.get_filename(): part.get_content()
        for part in message.iter_attachments()  # type: ignore[attr-defined]
    }


# Both databases (the issue asks each part walked on both): the PDF is a BLOB in SQLite and a
# bytea in PostgreSQL.
async def test_quarter_report_emailed_to_the_head_of_service_and_served_by_the_api(
    kafka_bootstrap: str, topic_prefix: str, database_urls: DatabaseUrls, tmp_path: Path
) -> None:
    scheduler_url = await database_urls.new("meetings")
    notifier_url = await database_urls.new("notifier")
    topic = TASKS.full_name(topic_prefix)
    with SmtpSink() as smtp:
        scheduler_settings = SchedulerSettings(
            **system.common(kafka_bootstrap, topic_prefix, scheduler_url),
            **system.TEST_SETTINGS_MEETINGS,
        )
        notifier_settings = NotifierSettings(
            **system.common(kafka_bootstrap, topic_prefix, notifier_url),
            **system.TEST_SETTINGS_NOTIFIER | {"rota_file": rota(tmp_path, smtp.port)},
            dispatch_poll_seconds=0.2,
        )
        async with AsyncExitStack() as stack:
            running = await system.start(
                stack,
                {
                    "notifier": create_notifier(notifier_settings),
                    "meeting_scheduler": create_scheduler(scheduler_settings),
                },
            )
            coordinator = running.client("meeting_scheduler")
            for starts_at, attending in SESSIONS:
                added = await coordinator.post(
                    "/v1/training-sessions",
                    json={"starts_at": starts_at, "topic": "Spotting labour exploitation",
                          "audience": ["Norfolk Constabulary"]},
                )  # fmt: skip
                assert added.status_code == 201, added.text
                if attending is not None:
                    held = await coordinator.put(
                        f"/v1/training-sessions/{added.json()['session_id']}/attendance",
                        json={"attending": attending},
                    )
                    assert held.status_code == 200, held.text
            # The coordinator may not read the funder's report: the head of service only.
            assert (await coordinator.get("/v1/reports/quarterly")).status_code == 403

            first = quarter_event(1).model_dump_json().encode()
            await produce(kafka_bootstrap, topic, first)
            [mail] = await smtp.inbox.wait_for(1, within=30)
            assert str(mail["to"]) == "head@test.local"
            assert str(mail["subject"]) == f"Funder's quarterly report: {QUARTER}"
            files = attachments(mail)
            assert sorted(files) == [
                f"funder-report-{QUARTER}-v1.csv", f"funder-report-{QUARTER}-v1.pdf"
            ]  # fmt: skip

            # The API, as the head of service (a static token of that role: tests only).
            head = running.client("meeting_scheduler")
            head.headers["Authorization"] = "Bearer test-token-head"
            listed = (await head.get("/v1/reports/quarterly")).json()
            assert [(item["quarter"], item["version"]) for item in listed] == [(QUARTER, 1)]
            report = (await head.get(f"/v1/reports/quarterly/{QUARTER}")).json()
            # API times are UTC with Z (tests/integration/test_api_times.py leaves these to us).
            assert API_TIME.match(listed[0]["published_at"]), listed[0]["published_at"]
            assert report["published_at"] == listed[0]["published_at"]
            figures = {
                item["figure"]: (item["quarter"], item["project_to_date"])
                for item in report["figures"]
            }
            in_quarter = [a for s, a in SESSIONS if a is not None and "2025-07" <= s < "2025-10"]
            to_date = [a for s, a in SESSIONS if a is not None and s < "2025-10"]
            assert figures["Training sessions held"] == (
                shown(len(in_quarter)),
                shown(len(to_date)),
            )
            assert figures["Training sessions held"] == ("<3", "3")
            assert figures["Attendance at training sessions"] == (
                str(sum(in_quarter)), str(sum(to_date)))  # fmt: skip
            assert figures["People supported (cases opened)"] == ("8", "19")
            assert figures["Children (handed to children's services)"] == ("<3", "3")
            assert figures["Hours from police contact to first contact, median"] == ("2.3", "2.3")
            assert figures["Housing: made"] == ("<3", "<3")
            assert figures["NASN meetings held"] == ("0", "0")
            assert figures["Operations supported"] == ("0", "0")
            csv_answer = await head.get(f"/v1/reports/quarterly/{QUARTER}/report.csv")
            emailed_csv = files[f"funder-report-{QUARTER}-v1.csv"]
            assert csv_answer.text.splitlines() == emailed_csv.splitlines()
            parsed = list(csv.DictReader(io.StringIO(csv_answer.text)))
            assert {row["figure"]: (row["quarter"], row["project_to_date"]) for row in parsed} == (
                figures
            )
            pdf_answer = await head.get(f"/v1/reports/quarterly/{QUARTER}/report.pdf")
            assert pdf_answer.headers["content-type"] == "application/pdf"
            assert pdf_answer.content == files[f"funder-report-{QUARTER}-v1.pdf"]
            text = " ".join(
                page.extract_text()
                for page in pypdf.PdfReader(io.BytesIO(pdf_answer.content)).pages
            )
            assert "Training sessions held <3 3" in " ".join(text.split())
            assert (await head.get("/v1/reports/quarterly/2024-25-Q1")).status_code == 404
            assert (await head.get("/v1/reports/quarterly/2024-Q1")).status_code == 422

            # Redelivered, and a twin of version 1 (a new id): nothing new. Version 2 (a rebuild):
            # e-mailed, and it is the report.
            twin = json.loads(first) | {"event_id": str(uuid.uuid4())}
            for value in (first, json.dumps(twin).encode()):
                await produce(kafka_bootstrap, topic, value)
            await produce(kafka_bootstrap, topic, quarter_event(2).model_dump_json().encode())
            messages = await smtp.inbox.wait_for(2, within=30)
            await group_caught_up(kafka_bootstrap, topic_prefix, TASKS, "meeting_scheduler.tasks")
            await group_caught_up(kafka_bootstrap, topic_prefix, AGENDA, "notifier.agenda")
            assert len(smtp.inbox.messages) == 2
            assert (
                str(messages[1]["subject"]) == f"Funder's quarterly report: {QUARTER} (version 2)"
            )
            report = (await head.get(f"/v1/reports/quarterly/{QUARTER}")).json()
            assert report["version"] == 2
            p90 = {item["figure"]: item["quarter"] for item in report["figures"]}
            assert p90["Hours from police contact to first contact, 90th percentile"] == str(
                round(11.92 + 2, 1)
            )
