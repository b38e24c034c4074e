"""The training pace warning on the real broker, SQLite and PostgreSQL: a project that started 500
days ago with no session held is behind (a straight line to 3 sessions in 3 years has passed 1 by
day 366), so the meeting scheduler publishes TrainingPaceWarningV1 and the notifier e-mails the
head of service, once: not again at later checks of the scheduler, nor after the scheduler
restarts, nor from the event read again. Recording a session held catches up, and the warning's
level is cleared."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from services.meeting_scheduler.adapters.tables import outbox, training_pace_warnings
from services.meeting_scheduler.main import create_app as create_scheduler
from services.meeting_scheduler.settings import SchedulerSettings
from services.notifier.adapters.tables import alerts
from services.notifier.main import create_app as create_notifier
from services.notifier.settings import NotifierSettings
from shared.clock import LONDON
from shared.topics import AGENDA
from tests.support import system
from tests.support.databases import DatabaseUrls
from tests.support.kafka import produce
from tests.support.log_capture import LogLines, capture_logs
from tests.support.safeguarding_paths import group_caught_up, rows
from tests.support.smtp import SmtpSink
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun", "bank_holiday"]


def write_config(folder: Path, smtp_port: int, project_starts: str) -> dict[str, Path]:
    """The shipped calendar with the project started `project_starts`; a rota with someone on
    duty at all hours (no rota-gap warning to muddle the inbox) and the head of service by email."""

    def email(who: str) -> dict[str, str]:
        return {
            "email": f"mailto://127.0.0.1:{smtp_port}?from=alerts@test.local&to={who}@test.local&mode=insecure"
        }

    calendar = yaml.safe_load((system.ROOT / "deploy" / "config" / "meetings.yaml").read_text())
    calendar["training"]["project_starts"] = project_starts
    rota = {
        "people": [
            {"id": "day", "role": "advisor", "channels": email("day")},
            {"id": "head", "role": "head_of_service", "channels": email("head")},
        ],
        "weekly": [
            {"days": EVERY_DAY, "start": "08:00", "end": "20:00", "person": "day"},
            {"days": EVERY_DAY, "start": "20:00", "end": "08:00", "person": "day"},
        ],
        "last_resort": "head",
    }
    (folder / "meetings.yaml").write_text(json.dumps(calendar))
    (folder / "rota.yaml").write_text(json.dumps(rota))
    return {"calendar": folder / "meetings.yaml", "rota": folder / "rota.yaml"}


def checks(logs: LogLines) -> Callable[[], Awaitable[list[str]]]:
    """The scheduler's pace checks logged so far (a probe for `eventually`)."""

    async def probe() -> list[str]:
        return [line for line in logs.lines if "training_pace_checked" in line]

    return probe


async def test_head_of_service_warned_once_then_cleared_by_a_session_held(
    kafka_bootstrap: str, topic_prefix: str, database_urls: DatabaseUrls, tmp_path: Path
) -> None:
    today = datetime.now(LONDON).date()
    # Day 500 of a 3-year period (1095 or 1096 days): 3 x 500 / 1096 = 1.37, so 1 session due.
    project_starts = (today - timedelta(days=500)).isoformat()
    scheduler_url = await database_urls.new("meetings")
    notifier_url = await database_urls.new("notifier")
    with SmtpSink() as smtp:
        files = write_config(tmp_path, smtp.port, project_starts)
        scheduler_settings = SchedulerSettings(
            **system.common(kafka_bootstrap, topic_prefix, scheduler_url),
            **system.TEST_SETTINGS_MEETINGS
            | {
                "calendar_file": files["calendar"],
                "training_pace_poll_seconds": 0.3,
                "training_pace_warnings": True,  # off in the other tests (tests/support/system.py)
            },
        )
        notifier_settings = NotifierSettings(
            **system.common(kafka_bootstrap, topic_prefix, notifier_url),
            **system.TEST_SETTINGS_NOTIFIER | {"rota_file": files["rota"]},
            dispatch_poll_seconds=0.2,
        )
        async with AsyncExitStack() as outer:
            await system.start(outer, {"notifier": create_notifier(notifier_settings)})
            async with AsyncExitStack() as stack:
                running = await system.start(
                    stack, {"meeting_scheduler": create_scheduler(scheduler_settings)}
                )
                logs = capture_logs(stack)
                [warning] = await smtp.inbox.wait_for(1, within=30)
                assert str(warning["to"]) == "head@test.local"
                assert str(warning["subject"]).startswith(
                    "Training sessions behind pace: 0 of 3 sessions held, 1 expected by now"
                )
                # Later checks (the loop polls every 0.3 s) find the level warned already.
                seen = len(await checks(logs)())
                await eventually(checks(logs), lambda found: len(found) >= seen + 2, what="checks")
                client = running.client("meeting_scheduler")
                progress = (await client.get("/v1/training-sessions")).json()["progress"]
                assert {k: progress[k] for k in ("held", "expected_by_now", "behind")} == {
                    "held": 0, "expected_by_now": 1, "behind": True,
                }  # fmt: skip

            # The scheduler restarts: its first check (at start) does not warn again.
            async with AsyncExitStack() as stack:
                running = await system.start(
                    stack, {"meeting_scheduler": create_scheduler(scheduler_settings)}
                )
                logs = capture_logs(stack)
                await eventually(checks(logs), bool, what="a check after the restart")
                # Every agenda-topic record has been handled by the notifier: one alert, one mail.
                await group_caught_up(kafka_bootstrap, topic_prefix, AGENDA, "notifier.agenda")
                warned = await rows(
                    notifier_url,
                    sa.select(alerts.c.subject_key).where(alerts.c.kind == "training_pace"),
                )
                assert [row["subject_key"] for row in warned] == [f"training:{project_starts}:1"]
                assert len(smtp.inbox.messages) == 1
                # ...and the scheduler published one warning for the level, not one per check.
                published = await rows(
                    scheduler_url,
                    sa.select(outbox.c.payload).where(
                        outbox.c.payload.contains("training.pace_warning.v1")
                    ),
                )
                assert len(published) == 1
                # The notifier's own guard: the event again (a redelivery) and a twin for the
                # same level with a new id (as from a scheduler whose record was lost).
                again = published[0]["payload"].encode()
                twin = json.loads(again) | {"event_id": str(uuid.uuid4())}
                topic = AGENDA.full_name(topic_prefix)
                for value in (again, json.dumps(twin).encode()):
                    await produce(kafka_bootstrap, topic, value, key=b"training")
                await group_caught_up(kafka_bootstrap, topic_prefix, AGENDA, "notifier.agenda")
                assert len(await rows(notifier_url, sa.select(alerts.c.alert_id).where(
                    alerts.c.kind == "training_pace"))) == 1  # fmt: skip

                # A session held yesterday catches up: no longer behind, the level is forgotten.
                client = running.client("meeting_scheduler")
                yesterday = f"{today - timedelta(days=1)}T14:00"
                added = await client.post(
                    "/v1/training-sessions",
                    json={
                        "starts_at": yesterday, "topic": "Spotting labour exploitation",
                        "audience": ["Norfolk Constabulary", "Norfolk Fire and Rescue Service"],
                    },
                )  # fmt: skip
                assert added.status_code == 201, added.text
                held = await client.put(
                    f"/v1/training-sessions/{added.json()['session_id']}/attendance",
                    json={"attending": 18},
                )
                assert held.status_code == 200, held.text
                await eventually(
                    lambda: rows(scheduler_url, sa.select(training_pace_warnings)),
                    lambda found: found == [],
                    what="the warning level cleared",
                )
                progress = (await client.get("/v1/training-sessions")).json()["progress"]
                assert {k: progress[k] for k in ("held", "expected_by_now", "behind")} == {
                    "held": 1, "expected_by_now": 1, "behind": False,
                }  # fmt: skip
    assert len(smtp.inbox.messages) == 1
