"""Onward referrals end to end on the real broker, SQLite and PostgreSQL: a police contact with
support needs reaches intake → casework opens its need tasks → the advisor records two referrals
on the safe-accommodation task and an answer for one (the control) → with no answer for the other
after the configured working day, exactly one follow-up e-mail reaches the task's advisor through
the notifier, and every outcome reaches the tasks topic as ReferralOutcomeRecordedV1 with no
identity. The rules themselves are tested in tests/unit/test_referrals.py."""

from __future__ import annotations

import json
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.casework.main import create_app as create_casework
from services.casework.settings import CaseworkSettings
from shared.clock import LONDON, FixedClock
from shared.topics import TASKS
from tests.support import system
from tests.support.databases import DatabaseUrls, wait_outbox_relayed
from tests.support.kafka import read_all, wait_consumed
from tests.support.notifier import wait_sends_settled
from tests.support.smtp import SmtpSink
from tests.support.waiting import eventually, wait_until

pytestmark = pytest.mark.integration

START = datetime(2026, 12, 24, 10, 0, tzinfo=LONDON)  # Thursday before Christmas: advisor-day
FOLLOW_UP = "Referral to follow up on case"


def _follow_ups(messages: list[EmailMessage]) -> list[tuple[str, str]]:
    found = []
    for message in messages:
        if str(message["subject"]).startswith(FOLLOW_UP):
            body = message.get_body(preferencelist=("plain",))
            found.append(
                (
                    str(message["to"]),
                    body.get_content().replace("\r\n", "\n").strip() if body else "",
                )
            )
    return found


async def test_a_referral_with_no_answer_is_chased_once_and_outcomes_are_events(
    kafka_bootstrap: str,
    topic_prefix: str,
    database_urls: DatabaseUrls,
    example_contact: bytes,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    document = yaml.safe_load((system.ROOT / "deploy" / "config" / "casework.yaml").read_text())
    document["referral_follow_up_working_days"] = 1  # the shortest period, from configuration
    config = tmp_path / "casework.yaml"
    config.write_text(yaml.safe_dump(document))
    clock = FixedClock(START)
    with SmtpSink() as smtp:
        monkeypatch.setenv("MAIL_SINK_PORT", str(smtp.port))  # the rota's e-mail stand-in
        async with AsyncExitStack() as stack:
            urls = {name: await database_urls.new(name) for name in ("intake", "notifier")}
            settings = CaseworkSettings(
                **system.common(kafka_bootstrap, topic_prefix, await database_urls.new("casework")),
                **(system.TEST_SETTINGS_CASEWORK | {"config_file": config}),
            )
            running = await system.start(stack, {
                "intake": system.intake_app(kafka_bootstrap, topic_prefix, urls["intake"]),
                "notifier": system.notifier_app(kafka_bootstrap, topic_prefix, urls["notifier"]),
                "casework": create_casework(settings, clock),
            })  # fmt: skip
            posted = await system.post_contact(running.client("intake"), example_contact)
            assert posted.status_code == 202, posted.text
            reference = posted.json()["case_reference"]
            head = running.client("casework")
            listed = await eventually(
                lambda: head.get(f"/v1/cases/{reference}/tasks"),
                lambda r: {"safe_accommodation", "legal_advice"} <= {t["kind"] for t in r.json()},
                what="the need tasks",
            )
            by_kind = {task["kind"]: task for task in listed.json()}
            shelter, legal = by_kind["safe_accommodation"], by_kind["legal_advice"]
            assert shelter["assignee"] == "advisor-day"  # on duty at 10:00 when it opened
            advisor = running.client("casework", as_person="advisor-day")
            url = f"/v1/tasks/{shelter['task_id']}/referrals"

            # Organisation: a directory entry or a short name; nothing else, no note.
            refused = await advisor.post(url, json={
                "organisation_name": "Shelter", "method": "phone", "notes": "what was said"})  # fmt: skip
            assert refused.status_code == 422
            assert "what was said" not in refused.text
            silent = await advisor.post(
                url, json={"organisation_id": "norfolk-safe-haven-housing", "method": "phone"}
            )
            assert silent.status_code == 201, silent.text
            answered = await advisor.post(
                url, json={"organisation_name": "Norwich Night Shelter", "method": "email"}
            )
            assert answered.status_code == 201, answered.text
            outcome = f"{url}/{answered.json()['referral_id']}/outcome"
            accepted = await advisor.post(outcome, json={"outcome": "accepted"})
            assert accepted.status_code == 200, accepted.text
            assert (
                await advisor.post(outcome, json={"outcome": "waiting_list"})
            ).status_code == 409
            other = running.client("casework", as_person="advisor-night")
            assert (await other.get(url)).status_code == 404  # another advisor's task

            # One working day from Thu 24 Dec 2026 is Tue 29 Dec (25, 28 Dec bank holidays, a
            # weekend between), followed up at its 17:00 London close: 17:00 UTC in winter.
            clock.advance(datetime(2026, 12, 29, 17, 0, tzinfo=UTC) - START)
            await wait_until(lambda: len(_follow_ups(smtp.inbox.messages)) >= 1,
                             what="the follow-up e-mail")  # fmt: skip
            # The control for "once": a later referral on another task, followed up on a later
            # pass of the same loop, while the first is still without an answer.
            late = await advisor.post(f"/v1/tasks/{legal['task_id']}/referrals",
                                      json={"organisation_name": "Norwich Law Centre",
                                            "method": "online_form"})  # fmt: skip
            assert late.status_code == 201, late.text
            assert late.json()["made_on"] == "2026-12-29"
            clock.advance(timedelta(days=1))  # Wed 30 Dec 17:00: the late one is due
            await wait_until(lambda: len(_follow_ups(smtp.inbox.messages)) >= 2,
                             what="the later referral's follow-up")  # fmt: skip
            await wait_outbox_relayed(settings.database_url)
            await wait_consumed(kafka_bootstrap, "notifier.tasks", [TASKS.full_name(topic_prefix)])
            await wait_sends_settled(urls["notifier"])
            assert sorted(_follow_ups(smtp.inbox.messages)) == sorted([
                ("advisor-day@safeguarding.local",
                 f"An onward referral on case {reference} has no answer yet: safe accommodation "
                 "referral to norfolk-safe-haven-housing made 24 Dec 2026\nRecord its outcome in "
                 "casework when you hear back."),
                ("advisor-day@safeguarding.local",
                 f"An onward referral on case {reference} has no answer yet: legal advice "
                 "referral to Norwich Law Centre made 29 Dec 2026\nRecord its outcome in casework "
                 "when you hear back."),
            ])  # fmt: skip

            records = await read_all(kafka_bootstrap, [TASKS.full_name(topic_prefix)], 0.3)
            events: list[dict[str, Any]] = [json.loads(r.value or b"{}") for r in records]
            outcomes = [
                (e["case_reference"], e["task_id"], e["referral_id"], e["kind"],
                 e["organisation_id"] or e["organisation_name"], e["outcome"])
                for e in events if e["event_type"] == "referral.outcome_recorded.v1"
            ]  # fmt: skip
            assert outcomes == [
                (reference, shelter["task_id"], silent.json()["referral_id"],
                 "safe_accommodation", "norfolk-safe-haven-housing", "made"),
                (reference, shelter["task_id"], answered.json()["referral_id"],
                 "safe_accommodation", "Norwich Night Shelter", "made"),
                (reference, shelter["task_id"], answered.json()["referral_id"],
                 "safe_accommodation", "Norwich Night Shelter", "accepted"),
                (reference, legal["task_id"], late.json()["referral_id"], "legal_advice",
                 "Norwich Law Centre", "made"),
            ]  # fmt: skip
            contact = json.loads(example_contact)
            for event in events:
                if event["event_type"].startswith("referral."):
                    assert set(event) <= {
                        "event_id", "event_type", "occurred_at", "correlation_id",
                        "causation_id", "producer", "case_reference", "task_id", "referral_id",
                        "kind", "organisation_id", "organisation_name", "outcome",
                        "decline_reason", "made_on", "assignee",
                    }  # fmt: skip
                    assert contact["police_reference"] not in json.dumps(event)
            figures = (await head.get("/v1/figures")).json()
            assert figures["referrals_by_need_and_outcome"] == {
                "safe_accommodation": {"made": 1, "accepted": 1}, "legal_advice": {"made": 1}}  # fmt: skip
