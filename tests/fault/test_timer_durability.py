"""Timers live in the databases, not in memory: kill -9 the notifier before an escalation step is
due and casework before a task's deadline and its escalation threshold, keep them down past those
moments, start them again, and each step and each overdue reminder fires exactly once."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.ext.asyncio import create_async_engine

from services.casework.adapters.tables import tasks
from services.notifier.adapters.tables import escalation_steps, notifications
from shared.topics import TASKS
from tests.fault.conftest import Sinks, generator
from tests.support.ground_truth import CASE_REFERENCE
from tests.support.kafka import read_all
from tests.support.live import LiveSystem
from tests.support.system import ROOT
from tests.support.waiting import eventually, wait_until

pytestmark = pytest.mark.fault

STEP_SECONDS = 8.0  # notifier: step 1 at 8 s, step 2 at 16 s, step 3 at 24 s
FIRST_CONTACT_HOURS = 15 / 3600  # casework: the first-contact task falls due 15 s after referral
ESCALATE_AFTER_HOURS = 5 / 3600  # … and is escalated to the head of service 5 s after that


def fast_casework_config(folder: Path) -> Path:
    config = yaml.safe_load((ROOT / "deploy" / "config" / "casework.yaml").read_text())
    config["first_contact"]["otherwise"] = {"hours": FIRST_CONTACT_HOURS}
    config["chasing"]["escalate_after_hours"] = ESCALATE_AFTER_HOURS
    path = folder / "casework-fast.yaml"
    path.write_text(json.dumps(config))
    return path


async def overdue(kafka: str, prefix: str) -> Counter[tuple[str, str, str]]:
    """Overdue reminders published: (case, task, threshold) → how many times."""
    records = await read_all(kafka, [TASKS.full_name(prefix)], quiet_for=0.5)
    events = [json.loads(r.value) for r in records]
    return Counter(
        (e["case_reference"], e["task_id"], e["threshold"])
        for e in events
        if e["event_type"] == "task.overdue.v1"
    )


async def pending_steps(url: str) -> list[int]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            query = sa.select(escalation_steps.c.step).where(escalation_steps.c.status == "pending")
            return sorted((await connection.execute(query)).scalars())
    finally:
        await engine.dispose()


async def step_zero_recorded(url: str) -> bool:
    """Every notification of the first step is recorded delivered: a kill now is not mid-send
    (which may legitimately send a message twice, tests/fault/test_service_kill.py)."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            query = sa.select(notifications.c.status).where(notifications.c.step == 0)
            statuses = list((await connection.execute(query)).scalars())
    finally:
        await engine.dispose()
    return bool(statuses) and set(statuses) == {"delivered"}


async def tasks_held(url: str) -> int:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            query = sa.select(sa.func.count()).select_from(tasks)
            return int((await connection.execute(query)).scalar_one())
    finally:
        await engine.dispose()


def cases_messaged(sinks: Sinks, path: str, title: str) -> Counter[str]:
    """Case reference → SMS to `path` whose title contains `title`."""
    return Counter(
        case
        for item in sinks.gateway.to(path)
        if title in item.title
        for case in CASE_REFERENCE.findall(item.title)
    )


async def test_escalation_and_overdue_timers_fire_once_across_kill_and_restart(
    kafka_bootstrap: str,
    topic_prefix: str,
    tmp_path: Path,
    sinks: Sinks,
    service_databases: dict[str, str],
    database_kind: str,
) -> None:
    config = fast_casework_config(tmp_path)
    async with LiveSystem(
        kafka_bootstrap, topic_prefix, service_databases, tmp_path / "live",
        sinks.gateway, sinks.smtp.port, step_seconds=STEP_SECONDS,
        extra_env={"casework": {"CASEWORK_CONFIG_FILE": str(config)}},
    ) as live:  # fmt: skip
        gen = generator(live["intake"].url, kafka_bootstrap, topic_prefix, "timers")
        gen.kafka_share = 0.0
        await gen.run(1, 1.0)
        await wait_until(
            lambda: len(sinks.gateway.to("sms/advisor-a")) == 1, within=20, what="step 0 SMS"
        )
        # The alert was raised, and the referral sent, before its first SMS arrived: every timer
        # of this contact falls due at most its delay after this moment.
        first_sms = sinks.gateway.to("sms/advisor-a")[0]
        (case,) = CASE_REFERENCE.findall(first_sms.title)
        # Tasks are open (their deadlines run from the referral) before casework goes down.
        await eventually(
            lambda: tasks_held(service_databases["casework"]), bool, within=20, what="tasks"
        )
        await eventually(
            lambda: step_zero_recorded(service_databases["notifier"]),
            bool,
            within=20,
            what="step 0 recorded delivered",
        )
        live["notifier"].kill()
        live["casework"].kill()
        killed_at = time.monotonic() - first_sms.at
        # What the restart must do: the steps and both casework thresholds were still to come.
        left_at_kill = await pending_steps(service_databases["notifier"])
        reminders_at_kill = await overdue(kafka_bootstrap, topic_prefix)
        too_late = (
            f"killed too late for the test to mean anything ({killed_at:.1f} s after the SMS)"
        )
        assert left_at_kill[-2:] == [2, 3], f"{too_late}: steps pending {left_at_kill}"
        assert not reminders_at_kill, f"{too_late}: reminders {reminders_at_kill}"
        # The fault: down until step 2 of the escalation and both casework thresholds are past.
        down_until = first_sms.at + max(2 * STEP_SECONDS, 3600 * (
            FIRST_CONTACT_HOURS + ESCALATE_AFTER_HOURS)) + 1.0  # fmt: skip
        await asyncio.sleep(down_until - time.monotonic())
        await asyncio.gather(live.restart("notifier"), live.restart("casework"))
        restarted_at = time.monotonic() - first_sms.at
        await wait_until(
            lambda: cases_messaged(sinks, "sms/head", "referral")[case] >= 1,
            within=30,
            what="step 3 SMS to head",
        )
        await eventually(
            lambda: overdue(kafka_bootstrap, topic_prefix),
            lambda found: len(found) >= 2,
            within=30,
            what="overdue reminders for both thresholds",
        )
        # Positive control instead of a pause: a second contact, sent now, whose step 1 and first
        # overdue reminder fall due after every timer of the first. Once they have fired, the
        # notifier's and casework's timer loops have run past all of the first contact's timers,
        # so any duplicate of them would be here already.
        await gen.run(1, 1.0)

        def later_case() -> str | None:
            others = set(cases_messaged(sinks, "sms/advisor-a", "referral")) - {case}
            return next(iter(others), None)

        await wait_until(lambda: later_case() is not None, within=20, what="second contact SMS")
        later = later_case()
        assert later is not None
        await wait_until(
            lambda: cases_messaged(sinks, "sms/advisor-a", "referral")[later] >= 2,
            within=30,
            what="step 1 of the second contact",
        )
        every = await eventually(
            lambda: overdue(kafka_bootstrap, topic_prefix),
            lambda found: any(key[0] == later for key in found),
            within=40,
            what="an overdue reminder of the second contact",
        )
        reminders = Counter({key: n for key, n in every.items() if key[0] == case})

    referral_sms = {
        person: cases_messaged(sinks, f"sms/{person}", "referral")[case]
        for person in ("advisor-a", "advisor-b", "head")
    }
    reminder_sms = Counter(
        (r.path, r.title)
        for r in sinks.gateway.received
        if r.title.startswith("Task overdue") and case in r.title
    )
    print(
        f"\ntimer durability ({database_kind}): killed {killed_at:.1f} s after the first SMS "
        f"(steps pending {left_at_kill}), restarted at {restarted_at:.1f} s; referral SMS per "
        f"person {referral_sms}; reminder SMS {sorted(reminder_sms.items())}; overdue reminders "
        f"per (task, threshold) {sorted(Counter(reminders.values()).items())} over "
        f"{len(reminders)} thresholds"
    )
    assert referral_sms == {"advisor-a": 2, "advisor-b": 1, "head": 1}
    assert len(reminders) == 2
    assert set(reminders.values()) == {1}
    # The reminder for each threshold reaches its person once: the owner, then the head.
    assert sorted(path for path, _ in reminder_sms) == ["/sms/advisor-a", "/sms/head"]
    assert set(reminder_sms.values()) == {1}
