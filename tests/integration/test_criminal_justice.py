"""Criminal-justice support end to end on the real broker, SQLite and PostgreSQL: a case taken by
an advisor → POST willing → the configured task with its deadline → POST support_booked → the
reminder before the booked time reaches the tasks topic for that advisor exactly once → the figures
count the case. The rules themselves are tested in tests/unit/test_criminal_justice.py."""

from __future__ import annotations

import json
import uuid
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.casework.main import create_app as create_casework
from services.casework.settings import CaseworkSettings
from shared.clock import LONDON, FixedClock
from shared.events import AlertAcknowledgedV1
from shared.topics import ALERTS, REFERRALS, TASKS
from tests.integration.test_casework import publish, referral
from tests.support import system
from tests.support.databases import DatabaseUrls
from tests.support.kafka import read_all, wait_consumed
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

START = datetime(2026, 12, 24, 10, 0, tzinfo=LONDON)  # Thursday before Christmas


async def test_a_booked_interview_reminds_the_advisor_once_and_is_counted(
    kafka_bootstrap: str, topic_prefix: str, database_urls: DatabaseUrls, tmp_path: Path
) -> None:
    document = yaml.safe_load((system.ROOT / "deploy" / "config" / "casework.yaml").read_text())
    document["criminal_justice"]["reminders_before_booking"] = [{"hours": 1}]
    config = tmp_path / "casework.yaml"
    config.write_text(yaml.safe_dump(document))
    clock = FixedClock(START)
    settings = CaseworkSettings(
        **system.common(kafka_bootstrap, topic_prefix, await database_urls.new("casework")),
        **(system.TEST_SETTINGS_CASEWORK | {"config_file": config}),
    )
    cases = ("MS-2026-CJINT1", "MS-2026-CJINT2")
    async with AsyncExitStack() as stack:
        running = await system.start(stack, {"casework": create_casework(settings, clock)})
        for reference in cases:
            await publish(kafka_bootstrap, topic_prefix, ALERTS.name, AlertAcknowledgedV1(
                occurred_at=START, correlation_id="c", producer="notifier",
                alert_id=str(uuid.uuid4()), case_references=(reference,),
                person_id="advisor-night", via="code").model_dump_json())  # fmt: skip
            await publish(kafka_bootstrap, topic_prefix, REFERRALS.name,
                          referral(reference, START).model_dump_json())  # fmt: skip
        head = running.client("casework")
        await eventually(
            lambda: head.get("/v1/tasks"), lambda r: len(r.json()) == 12, what="both cases' tasks"
        )
        await wait_consumed(kafka_bootstrap, "casework.alerts", [ALERTS.full_name(topic_prefix)])
        url = f"/v1/cases/{cases[0]}/criminal-justice"
        assert (await head.get(url)).json()["state"] == "not_yet_asked"
        # Nothing but the state (and a booking) may be sent: a note is refused, not dropped.
        refused = await head.post(url, json={"state": "declined", "notes": "what was said"})
        assert refused.status_code == 422
        assert "what was said" not in refused.text
        assert (await head.post(url, json={"state": "account_given"})).status_code == 409
        # Another advisor's case is not found, as their tasks are.
        other = running.client("casework", as_person="advisor-day")
        assert (await other.get(url)).status_code == 404
        assert (await other.post(url, json={"state": "declined"})).status_code == 404

        advisor = running.client("casework", as_person="advisor-night")
        willing = await advisor.post(url, json={"state": "willing_to_give_account"})
        assert willing.status_code == 200, willing.text
        task = next(
            t for t in (await head.get(f"/v1/cases/{cases[0]}/tasks")).json()
            if t["kind"] == "arrange_account"
        )  # fmt: skip
        # 5 working days from Thu 24 Dec 2026 (25, 28 Dec and 1 Jan are bank holidays): Tue 5 Jan
        # 2027 at 17:00 London, which is 17:00 UTC in winter.
        assert (task["due_at"], task["assignee"]) == ("2027-01-05T17:00:00Z", "advisor-night")

        # Case 1's interview is 24 hours ahead, case 2's court hearing 24.5: reminders an hour
        # before each. Case 2's reminder is the control: by then the reminder loop has passed
        # case 1 again while its reminder time is still crossed and its interview still ahead.
        for reference, hours, kind in ((cases[0], 24, "interview"), (cases[1], 24.5, "court")):
            path = f"/v1/cases/{reference}/criminal-justice"
            if reference != cases[0]:
                await head.post(path, json={"state": "willing_to_give_account"})
            booked_at = (START + timedelta(hours=hours)).astimezone(UTC)
            answer = await advisor.post(path, json={
                "state": "support_booked", "kind": kind,
                "booked_at": booked_at.isoformat().replace("+00:00", "Z")})  # fmt: skip
            assert answer.status_code == 200, answer.text
            assert answer.json()["booking"]["booked_at"] == f"{booked_at:%Y-%m-%dT%H:%M:%S}Z"

        async def reminders() -> list[tuple[str, str, str, str]]:
            records = await read_all(kafka_bootstrap, [TASKS.full_name(topic_prefix)], 0.3)
            events: list[dict[str, Any]] = [json.loads(r.value or b"{}") for r in records]
            return [
                (e["case_reference"], e["booking_kind"], e["before"], e["assignee"])
                for e in events if e["event_type"] == "criminal_justice.reminder.v1"
            ]  # fmt: skip

        clock.advance(timedelta(hours=23, minutes=1))  # an hour before case 1's interview
        await eventually(reminders, lambda found: len(found) == 1, what="case 1's reminder")
        clock.advance(timedelta(minutes=30))  # an hour before case 2's hearing
        found = await eventually(reminders, lambda found: len(found) >= 2, what="the control")
        # Sorted: the two cases' reminders are on different partitions of the topic, and a read
        # across partitions has no order between them (a CI run read case 2's first). A second
        # reminder for either case would still show.
        assert sorted(found) == [
            (cases[0], "interview", "1_hours", "advisor-night"),
            (cases[1], "court", "1_hours", "advisor-night"),
        ]

        figures = (await head.get("/v1/figures")).json()
        assert figures["criminal_justice_by_state"] == {
            "not_yet_asked": 0, "willing_to_give_account": 0, "declined": 0,
            "account_given": 0, "support_booked": 2}  # fmt: skip
        history = (await head.get(url)).json()["history"]
        assert [(h["to_state"], h["actor"]) for h in history] == [
            ("willing_to_give_account", "advisor-night"), ("support_booked", "advisor-night")]  # fmt: skip
