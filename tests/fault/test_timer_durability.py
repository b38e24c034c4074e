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
import yaml

from shared.topics import TASKS
from tests.fault.conftest import Sinks, generator
from tests.support.kafka import read_all
from tests.support.live import LiveSystem
from tests.support.system import ROOT
from tests.support.waiting import wait_until

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
        sent_at = time.monotonic()
        await gen.run(1, 1.0)
        await wait_until(
            lambda: len(sinks.gateway.to("sms/advisor-a")) == 1, within=20, what="step 0 SMS"
        )
        # Tasks are open (the deadline clock runs from the referral) before casework goes down.
        await asyncio.sleep(max(0.0, 3.0 - (time.monotonic() - sent_at)))
        live["notifier"].kill()
        live["casework"].kill()
        killed_at = time.monotonic() - sent_at
        # Down past step 2 of the escalation and past both casework thresholds.
        await asyncio.sleep(2.5 * STEP_SECONDS - (time.monotonic() - sent_at))
        await asyncio.gather(live.restart("notifier"), live.restart("casework"))
        restarted_at = time.monotonic() - sent_at
        await wait_until(
            lambda: len(sinks.gateway.to("sms/head")) >= 1, within=30, what="step 3 SMS to head"
        )

        async def overdue() -> Counter[tuple[str, str]]:
            records = await read_all(
                kafka_bootstrap, [TASKS.full_name(topic_prefix)], quiet_for=0.5
            )
            events = [json.loads(r.value) for r in records]
            return Counter(
                (e["task_id"], e["threshold"])
                for e in events
                if e["event_type"] == "task.overdue.v1"
            )

        deadline = time.monotonic() + 30
        while len(await overdue()) < 2:
            assert time.monotonic() < deadline, f"overdue reminders: {await overdue()}"
            await asyncio.sleep(0.5)
        await asyncio.sleep(STEP_SECONDS + 2)  # room for any duplicate to show itself
        reminders = await overdue()

    referral_sms = {
        person: sum("referral" in r.title for r in sinks.gateway.to(f"sms/{person}"))
        for person in ("advisor-a", "advisor-b", "head")
    }
    reminder_sms = Counter(
        (r.path, r.title) for r in sinks.gateway.received if r.title.startswith("Task overdue")
    )
    print(
        f"\ntimer durability ({database_kind}): killed at {killed_at:.1f} s, restarted at "
        f"{restarted_at:.1f} s; referral SMS per person {referral_sms}; reminder SMS {sorted(reminder_sms.items())}; overdue reminders per (task, threshold) "
        f"{sorted(Counter(reminders.values()).items())} over {len(reminders)} thresholds"
    )
    assert referral_sms == {"advisor-a": 2, "advisor-b": 1, "head": 1}
    assert len(reminders) == 2
    assert set(reminders.values()) == {1}
    # The reminder for each threshold reaches its person once: the owner, then the head.
    assert sorted(path for path, _ in reminder_sms) == ["/sms/advisor-a", "/sms/head"]
    assert set(reminder_sms.values()) == {1}
