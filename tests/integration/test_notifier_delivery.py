"""The notifier against real servers: an SMTP server and an HTTP server standing in for the SMS and
voice gateways, on the real broker. Escalation delays are seconds here (a test policy), minutes in
deploy/config/alerting.yaml."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.notifier.main import create_app as create_notifier
from services.notifier.settings import NotifierSettings
from shared.events import (
    AgendaAttachment,
    AgendaPublishedV1,
    CriminalJusticeReminderV1,
    ReferralFollowUpDueV1,
    ReferralOpenedV1,
    TaskOverdueV1,
    Urgency,
)
from shared.topics import AGENDA, ALERTS, REFERRALS, TASKS, TopicSpec
from tests.support import system
from tests.support.databases import DatabaseUrls, wait_outbox_relayed
from tests.support.http_gateway import Gateway, RunningGateway
from tests.support.kafka import produce, produce_many, read_all, wait_consumed
from tests.support.notifier import (
    PEOPLE,
    referral,
    wait_escalations_finished,
    wait_sends_settled,
    write_policy,
    write_rota,
)
from tests.support.smtp import SmtpSink
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

GROUPED_KESTREL = re.compile(r"\d+ more referrals? from Op Kestrel")


@dataclass
class Harness:
    gateway: Gateway
    smtp: SmtpSink
    client: httpx.AsyncClient
    kafka: str
    prefix: str
    database: str

    async def publish(self, *events: ReferralOpenedV1) -> None:
        await produce_many(self.kafka, REFERRALS.full_name(self.prefix), [
            (event.model_dump_json().encode(), event.case_reference.encode()) for event in events
        ])  # fmt: skip

    def sms(self, person: str) -> list[str]:
        return [item.message for item in self.gateway.to(f"sms/{person}")]

    def about(self, case_reference: str) -> list[str]:
        """Every message (SMS, call, email) that names the case."""
        texts = [f"{item.title}\n{item.message}" for item in self.gateway.received]
        for message in self.smtp.inbox.messages:
            body = message.get_body(preferencelist=("plain",))
            texts.append(f"{message['subject']}\n{body.get_content() if body else ''}")
        return [text for text in texts if case_reference in text]

    async def consumed(self, topic: TopicSpec, group_id: str) -> None:
        """The notifier has handled every record of `topic` and sent everything it raised."""
        await wait_consumed(self.kafka, group_id, [topic.full_name(self.prefix)])
        await wait_sends_settled(self.database)


@pytest.fixture
async def harness(
    kafka_bootstrap: str,
    topic_prefix: str,
    tmp_path: Path,
    database_urls: DatabaseUrls,
    request: pytest.FixtureRequest,
) -> AsyncIterator[Harness]:
    step_seconds, repeat_times = getattr(request, "param", (3.0, 0))
    database = await database_urls.new("notifier")
    async with RunningGateway() as gateway, AsyncExitStack() as stack:
        smtp = stack.enter_context(SmtpSink())
        settings = NotifierSettings(
            **system.common(kafka_bootstrap, topic_prefix, database),
            **system.TEST_SETTINGS_NOTIFIER | {
                "rota_file": write_rota(tmp_path, gateway, smtp.port),
                "alerting_file": write_policy(tmp_path, step_seconds, repeat_times),
                # This rota's head of service is "head": the client signs in as them.
                "staff_tokens": {"head": system.STAFF_TOKENS["head-of-service"]},
            },
            dispatch_poll_seconds=0.2,
        )  # fmt: skip
        running = await system.start(stack, {"notifier": create_notifier(settings)})
        yield Harness(
            gateway, smtp, running.client("notifier"), kafka_bootstrap, topic_prefix, database
        )


async def alert_events(harness: Harness) -> list[dict[str, Any]]:
    return [
        json.loads(r.value)
        for r in await read_all(harness.kafka, [ALERTS.full_name(harness.prefix)], quiet_for=0.5)
    ]


async def test_immediate_alert_reaches_every_channel_and_escalates_on_schedule(
    harness: Harness,
) -> None:
    published_at = time.monotonic()
    await harness.publish(referral(1, Urgency.IMMEDIATE))
    # The three channels of the first step are sent concurrently, in no fixed order: wait for each.
    await wait_until(lambda: len(harness.gateway.to("voice/advisor-a")) >= 1, what="voice call")
    await wait_until(lambda: len(harness.sms("advisor-a")) >= 1, what="first SMS")
    await harness.smtp.inbox.wait_for(1)
    assert len(harness.sms("advisor-a")) == 1

    # Nobody acknowledges: re-notify the on-duty advisor, then the backup, then the head of service.
    await wait_until(lambda: len(harness.sms("head")) == 1, within=30, what="head of service paged")
    sms_times = {
        person: [item.at - published_at for item in harness.gateway.to(f"sms/{person}")]
        for person in PEOPLE
    }
    # Steps are due 3, 6 and 9 s after the alert is raised, which is after the publish: a step may
    # never come early; lateness is bounded generously (a busy 2-core machine, a 0.2 s poll), and
    # the order of the steps is what the policy promises.
    assert len(sms_times["advisor-a"]) == 2, sms_times
    assert 3.0 <= sms_times["advisor-a"][1] <= 3.0 + 4.0, sms_times
    assert 6.0 <= sms_times["advisor-b"][0] <= 6.0 + 4.0, sms_times
    assert 9.0 <= sms_times["head"][0] <= 9.0 + 4.0, sms_times
    assert sms_times["advisor-a"][1] < sms_times["advisor-b"][0] < sms_times["head"][0], sms_times
    first = "IMMEDIATE modern slavery referral MS-2026-T00001, Norwich"
    initial, reminder = harness.sms("advisor-a")
    assert initial.startswith(first)
    assert reminder.startswith("Reminder 2 of 2: " + first)  # on duty for two steps: it says so
    assert harness.sms("head")[0].startswith(first)  # the head's one step: no "Reminder"
    await wait_outbox_relayed(harness.database)  # the last step's event follows its firing
    events = [event["event_type"] for event in await alert_events(harness)]
    assert events.count("alert.raised.v1") == 1
    assert events.count("alert.escalated.v1") == 3


async def test_acknowledging_by_code_stops_every_further_message(harness: Harness) -> None:
    await harness.publish(referral(2, Urgency.IMMEDIATE))
    # The first step's SMS, call and email go concurrently: wait for all three, so that none is
    # still in flight (and arrives later) when the acknowledgement is made.
    await wait_until(
        lambda: len(harness.about("MS-2026-T00002")) == 3, what="first step's channels"
    )
    code = re.search(r"Ack ([A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}) ", harness.sms("advisor-a")[0])
    assert code is not None
    response = await harness.client.post("/v1/acks", json={"code": code.group(1)})
    assert response.status_code == 200
    assert response.json() == {"status": "acknowledged"}  # no case, no person: no sign-in
    # A positive control: a second alert, raised after the acknowledgement and left open. Once
    # its last step (9 s after it was raised) has reached the head of service, the scheduler has
    # run past every step of the first alert, which was raised earlier.
    await harness.publish(referral(20, Urgency.IMMEDIATE))
    await wait_until(
        lambda: any("MS-2026-T00020" in body for body in harness.sms("head")),
        within=30,
        what="the open alert's last step",
    )
    await wait_sends_settled(harness.database)
    assert len(harness.about("MS-2026-T00002")) == 3, "messages after the acknowledgement"
    await wait_outbox_relayed(harness.database)
    events = await alert_events(harness)
    first = next(
        e["alert_id"]
        for e in events
        if e["event_type"] == "alert.raised.v1" and e["case_references"] == ["MS-2026-T00002"]
    )
    acknowledged = [e for e in events if e["event_type"] == "alert.acknowledged.v1"]
    assert [(e["alert_id"], e["person_id"], e["via"]) for e in acknowledged] == [
        (first, "advisor-a", "code")
    ]
    escalated = [e["alert_id"] for e in events if e["event_type"] == "alert.escalated.v1"]
    assert first not in escalated
    assert len(escalated) == 3, "the open alert escalated: the control ran"
    again = await harness.client.post("/v1/acks", json={"code": code.group(1)})
    assert again.json() == {"status": "acknowledged"}  # the acknowledger's retry: same answer


async def test_acknowledging_by_link_shows_a_page_then_acknowledges_on_post(
    harness: Harness,
) -> None:
    await harness.publish(referral(3, Urgency.PRIORITY))
    messages = await harness.smtp.inbox.wait_for(1)
    body = messages[0].get_body(preferencelist=("plain",))
    assert body is not None
    link = re.search(r"Acknowledge: http://127\.0\.0\.1:8002(/ack/\S+) ", body.get_content())
    assert link is not None
    page = await harness.client.get(link.group(1))
    assert page.status_code == 200
    assert "MS-2026-T00003" not in page.text  # the page names no case
    assert "<form method='post'>" in page.text
    done = await harness.client.post(link.group(1))
    assert "is acknowledged" in done.text
    forged = await harness.client.post(link.group(1)[:-3] + "abc")
    assert forged.status_code == 403


@pytest.mark.parametrize("harness", [(120.0, 0)], indirect=True)  # no re-notify within the test
async def test_provider_outage_delays_but_never_loses_the_alert(harness: Harness) -> None:
    harness.gateway.refuse(2)  # the SMS provider refuses the first two attempts (1 s apart)
    await harness.publish(referral(4, Urgency.PRIORITY))
    await harness.smtp.inbox.wait_for(1)  # email is another provider: not down
    await wait_until(
        lambda: len(harness.sms("advisor-a")) >= 1, within=20, what="SMS after the outage"
    )
    await wait_sends_settled(harness.database)
    assert harness.gateway.refused == 2
    assert len(harness.sms("advisor-a")) == 1
    # The raised event reaches the topic through the outbox: wait for it to be relayed.
    await wait_outbox_relayed(harness.database)
    alert_id = next(
        e["alert_id"] for e in await alert_events(harness) if e["event_type"] == "alert.raised.v1"
    )
    status = (await harness.client.get(f"/v1/alerts/{alert_id}")).json()
    sms_attempts = [row for row in status["ledger"] if row["channel"] == "sms"]
    # Retried with backoff and delivered on the third attempt, within the channel's three tries.
    assert [row["outcome"] for row in sms_attempts] == ["failed", "failed", "delivered"]
    assert [row["attempt"] for row in sms_attempts] == [1, 2, 3]


@pytest.mark.parametrize("harness", [(120.0, 0)], indirect=True)  # no re-notify within the test
async def test_a_raid_pages_once_then_groups_but_never_hides_an_immediate_case(
    harness: Harness,
) -> None:
    immediate = {5, 11, 17, 23, 29}
    # All 30 at once, as a raid's contacts come: the batching below is then about the notifier,
    # not about how long the test took to publish them one connection at a time.
    await harness.publish(*(
        referral(100 + n, Urgency.IMMEDIATE if n in immediate else Urgency.PRIORITY, operation="Op Kestrel")
        for n in range(30)
    ))  # fmt: skip

    def grouped_emails() -> list[str]:
        texts = []
        for message in harness.smtp.inbox.messages:
            if GROUPED_KESTREL.search(str(message["subject"])):
                body = message.get_body(preferencelist=("plain",))
                texts.append(body.get_content() if body is not None else "")
        return texts

    def grouped_cases() -> list[str]:
        return re.findall(r"MS-2026-T\d{5}", " ".join(grouped_emails()))

    await wait_until(
        lambda: len(set(grouped_cases())) >= 24, within=30, what="every case in a follow-up"
    )
    await harness.consumed(REFERRALS, "notifier")  # every referral handled, every message sent
    pages = [m for m in harness.sms("advisor-a") if "modern slavery referral" in m]
    paged_cases = {re.search(r"MS-2026-T\d{5}", m).group(0) for m in pages}  # type: ignore[union-attr]
    immediate_cases = {f"MS-2026-T{100 + n:05d}" for n in immediate}
    # Partitions interleave: whichever non-immediate case came first is paged; every immediate one is.
    assert immediate_cases <= paged_cases
    assert len(paged_cases - immediate_cases) == 1
    assert len(pages) == 6, "one page per paged case, no repeats"
    assert len(grouped_cases()) == 24, "each grouped case in exactly one follow-up"
    assert set(grouped_cases()).isdisjoint(paged_cases)
    grouped_sms = [m for m in harness.sms("advisor-a") if GROUPED_KESTREL.search(m)]
    assert 1 <= len(grouped_sms) <= 3, grouped_sms  # a few batches at most, not a storm
    assert all(len(m) <= 306 for m in grouped_sms)
    assert sum(int(m.split(" ", 1)[0]) for m in grouped_sms) == 24
    print(f"\nraid of 30: {len(pages)} individual pages, {len(grouped_sms)} grouped follow-up(s)")


@pytest.mark.parametrize("harness", [(2.0, 2)], indirect=True)  # steps 2 s apart, two repeats
async def test_each_reminder_says_which_notice_it_is_in_the_sms_and_the_email_subject(
    harness: Harness,
) -> None:
    """Test policy: on duty at 0 and 2 s, backup at 4 s, head of service at 6 s, then repeats to
    the head at 8 and 10 s. Nobody acknowledges."""
    await harness.publish(referral(30, Urgency.IMMEDIATE))
    # Raised (its steps recorded) once the first SMS is out; then wait for the last step's sends.
    await wait_until(lambda: len(harness.sms("advisor-a")) >= 1, what="first SMS")
    await wait_escalations_finished(harness.database, within=45)
    sms = "IMMEDIATE modern slavery referral MS-2026-T00030, Norwich"
    subject = "[IMMEDIATE] Modern slavery referral MS-2026-T00030"
    expected = {  # person: the prefixes of their notices, in order
        "advisor-a": ["", "Reminder 2 of 2: "],
        "advisor-b": [""],
        "head": ["", "Reminder 2 of 3: ", "Reminder 3 of 3: "],
    }
    for person, prefixes in expected.items():
        texts = harness.sms(person)
        assert len(texts) == len(prefixes), (person, texts)
        for text, prefix in zip(texts, prefixes, strict=True):
            assert text.startswith(prefix + sms), (person, text)
        calls = [item.message for item in harness.gateway.to(f"voice/{person}")]
        assert [c[: len(p)] for c, p in zip(calls, prefixes, strict=True)] == prefixes
        subjects = [
            str(m["subject"]) for m in harness.smtp.inbox.messages
            if str(m["to"]) == f"{person}@test.local"
        ]  # fmt: skip
        # Each e-mail has a subject of its own: a reminder does not thread under the first.
        assert sorted(subjects) == sorted(prefix + subject for prefix in prefixes), person


@pytest.mark.parametrize("harness", [(120.0, 0)], indirect=True)  # no re-notify within the test
async def test_grouped_follow_ups_agree_with_their_count_and_list_cases_by_contact_time(
    harness: Harness,
) -> None:
    def halyard(number: int, minute: int) -> ReferralOpenedV1:
        return referral(number, operation="Op Halyard").model_copy(
            update={"recorded_at": datetime(2026, 11, 28, 8, minute, tzinfo=UTC)}
        )

    await harness.publish(halyard(40, 0))  # the operation's first contact: paged on its own
    await wait_until(lambda: len(harness.sms("advisor-a")) == 1, what="the first page")
    await harness.publish(halyard(41, 5))  # within the window: a follow-up of one
    await wait_until(lambda: len(harness.sms("advisor-a")) == 2, what="follow-up of one")
    # Three at once: met by the police in the reverse order of their references, two at 08:20
    await harness.publish(halyard(42, 30), halyard(43, 20), halyard(44, 20))
    await wait_until(lambda: len(harness.sms("advisor-a")) == 3, what="follow-up of three")
    await harness.consumed(REFERRALS, "notifier")
    _, one, three = harness.sms("advisor-a")
    assert one.startswith("1 more referral from Op Halyard, Norwich. Ack ")
    assert three.startswith("3 more referrals from Op Halyard, Norwich. Ack ")
    bodies = {
        str(m["subject"]): (m.get_body(preferencelist=("plain",)) or m).get_content()
        for m in harness.smtp.inbox.messages
    }
    assert "1 more referral from Op Halyard (Norwich):\nMS-2026-T00041\n" in bodies[
        "1 more referral from Op Halyard"
    ].replace("\r\n", "\n")
    assert "3 more referrals from Op Halyard (Norwich):\n" + (
        "MS-2026-T00043, MS-2026-T00044, MS-2026-T00042\n"
    ) in bodies["3 more referrals from Op Halyard"].replace("\r\n", "\n")


@pytest.mark.parametrize("harness", [(120.0, 0)], indirect=True)
async def test_overdue_task_reminds_the_assignee_then_the_head_of_service(harness: Harness) -> None:
    tasks_topic = TASKS.full_name(harness.prefix)
    due = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    for threshold in ("due", "escalated"):
        event = TaskOverdueV1(
            occurred_at=datetime.now(UTC), correlation_id="c-task", producer="casework",
            case_reference="MS-2026-T00900", task_id="task-1", kind="safe_accommodation",
            due_at=due, threshold=threshold, assignee="advisor-b",
        )  # fmt: skip
        await produce(harness.kafka, tasks_topic, event.model_dump_json().encode())
        await produce(harness.kafka, tasks_topic, event.model_dump_json().encode())  # redelivered
    await wait_until(
        lambda: len(harness.sms("head")) == 1 and len(harness.sms("advisor-b")) == 1,
        what="reminders",
    )
    await harness.consumed(TASKS, "notifier.tasks")  # the redeliveries too
    assert harness.sms("advisor-b") == [
        "Task overdue on case MS-2026-T00900: safe accommodation was due 10:00 28 Nov 2026 UTC"
    ]
    assert len(harness.sms("head")) == 1
    assert harness.sms("advisor-a") == [], "a reminder goes to the assignee, not whoever is on duty"


@pytest.mark.parametrize("harness", [(120.0, 0)], indirect=True)
async def test_booked_support_reminds_the_case_advisor_once_per_offset(harness: Harness) -> None:
    """Casework's criminal-justice reminders (tests/integration/test_criminal_justice.py shows they
    reach the topic) reach the advisor by SMS: once per booking and offset, redelivery or not."""
    tasks_topic = TASKS.full_name(harness.prefix)
    booked_at = datetime(2026, 12, 24, 10, 30, tzinfo=UTC)  # 10:30 in London in winter
    reminders = [
        CriminalJusticeReminderV1(
            occurred_at=datetime.now(UTC), correlation_id="c-cj", producer="casework",
            case_reference="MS-2026-T00901", booking_id="booking-1", booking_kind="interview",
            booked_at=booked_at, before=before, assignee="advisor-b",
        )
        for before in ("2_working_days", "2_hours")
    ]  # fmt: skip
    for event in reminders:
        await produce(harness.kafka, tasks_topic, event.model_dump_json().encode())
    # A second copy of the first reminder, as a new event (as casework after a crash would send).
    again = reminders[0].model_copy(update={"event_id": uuid.uuid4()})
    await produce(harness.kafka, tasks_topic, again.model_dump_json().encode())
    await wait_until(lambda: len(harness.sms("advisor-b")) >= 2, what="two reminders")
    await harness.consumed(TASKS, "notifier.tasks")
    expected = "Support booked on case MS-2026-T00901: interview at 10:30 on 24 Dec 2026 (UK time)"
    assert harness.sms("advisor-b") == [expected, expected]
    assert harness.sms("advisor-a") == [], "the case's advisor, not whoever is on duty"


async def test_a_referral_follow_up_reaches_the_advisor_once_however_often_it_comes(
    harness: Harness,
) -> None:
    """Casework's follow-up of an onward referral with no answer (tests/integration/
    test_referral_follow_up.py shows it end to end): one SMS to the task's advisor, even when
    casework sends the event again after a crash (a new event id) and the broker redelivers it."""
    tasks_topic = TASKS.full_name(harness.prefix)
    event = ReferralFollowUpDueV1(
        occurred_at=datetime.now(UTC), correlation_id="c-rf", producer="casework",
        case_reference="MS-2026-T00902", task_id="task-rf", referral_id="referral-1",
        kind="safe_accommodation", organisation_name="Norwich Night Shelter",
        made_on=date(2026, 12, 24), assignee="advisor-b",
    )  # fmt: skip
    control = event.model_copy(update={
        "event_id": uuid.uuid4(), "referral_id": "referral-2", "organisation_name": None,
        "organisation_id": "norfolk-safe-haven-housing"})  # fmt: skip
    again = event.model_copy(update={"event_id": uuid.uuid4()})
    for item in (event, event, again, control):
        await produce(harness.kafka, tasks_topic, item.model_dump_json().encode())
    await wait_until(lambda: len(harness.sms("advisor-b")) >= 2, what="the control's SMS")
    await harness.consumed(TASKS, "notifier.tasks")
    assert sorted(harness.sms("advisor-b")) == [
        "Referral to follow up on case MS-2026-T00902: safe accommodation referral to "
        "Norwich Night Shelter made 24 Dec 2026",
        "Referral to follow up on case MS-2026-T00902: safe accommodation referral to "
        "norfolk-safe-haven-housing made 24 Dec 2026",
    ]
    assert harness.sms("advisor-a") == [], "the task's advisor, not whoever is on duty"


async def test_published_agenda_is_emailed_to_the_coordinator_with_its_files(
    harness: Harness,
) -> None:
    pdf = b"%PDF-1.4 agenda test bytes"
    event = AgendaPublishedV1(
        occurred_at=datetime.now(UTC), correlation_id="c-agenda", producer="meeting_scheduler",
        meeting_series="case-panel", meeting_starts_at=datetime(2026, 12, 2, 10, 0, tzinfo=UTC),
        title="Multi-agency safeguarding meeting", version=1,
        attachments=(
            AgendaAttachment(filename="agenda.pdf", content_type="application/pdf",
                             content_base64=base64.b64encode(pdf).decode()),
            AgendaAttachment(filename="meeting.ics", content_type="text/calendar",
                             content_base64=base64.b64encode(b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n").decode()),
        ),
    )  # fmt: skip
    await produce(harness.kafka, AGENDA.full_name(harness.prefix), event.model_dump_json().encode())
    messages = await harness.smtp.inbox.wait_for(1)
    message = messages[0]
    assert str(message["to"]) == "coordinator@test.local"
    assert str(message["subject"]) == "Agenda: Multi-agency safeguarding meeting, 02 Dec 2026"
    files = {part.get_filename(): part.get_content() for part in message.iter_attachments()}
    assert files["agenda.pdf"] == pdf
    assert "BEGIN:VCALENDAR" in str(
        files["meeting.ics"]
        if isinstance(files["meeting.ics"], str)
        else files["meeting.ics"].decode()
    )
    await harness.consumed(AGENDA, "notifier.agenda")
    assert len(harness.smtp.inbox.messages) == 1
    assert harness.gateway.received == [], "agendas go by email only"
