"""Onward referrals (#15 part 2) on real SQLite: the outcome table, the decline reasons, when a
referral with no answer is followed up, its advisor reminded once across a restart, the events and
the figures. The end-to-end walk (notifier and all) is tests/integration/test_referral_follow_up.py."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.exc import DBAPIError

from services.casework.adapters.referral_tables import referral_history
from services.casework.adapters.tables import cases, outbox, tasks
from services.casework.config import ConfigError, load_config
from services.casework.handlers import CaseworkDeps
from services.casework.lifecycle import ChasePolicy
from services.casework.main import MIGRATIONS
from services.casework.queries import figures
from services.casework.referral_records import (
    NewReferral,
    NotInDirectory,
    follow_up_referrals,
    make_referral,
    record_outcome,
)
from services.casework.referrals import (
    DeclineReason,
    Outcome,
    OutcomeRefused,
    check_outcome,
    follow_up_due_at,
)
from shared.clock import LONDON, FixedClock
from shared.db import create_engine, migrate
from shared.rota import load_rota

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "config" / "casework.yaml"
NOW = datetime(2026, 12, 24, 10, 0, tzinfo=LONDON)  # Thursday before Christmas

# The allowed changes, written from the outcomes rather than read from the code.
ALLOWED = {
    ("made", "accepted"), ("made", "declined"), ("made", "waiting_list"),
    ("waiting_list", "accepted"), ("waiting_list", "declined"),
    ("accepted", "completed"), ("accepted", "declined"),
}  # fmt: skip
OUTCOMES = ("made", "accepted", "declined", "waiting_list", "completed")


def test_every_outcome_change_is_allowed_or_refused_as_the_table_says() -> None:
    for current in OUTCOMES:
        for new in OUTCOMES:
            reason = DeclineReason.NO_CAPACITY if new == "declined" else None
            if (current, new) in ALLOWED:
                check_outcome(Outcome(current), Outcome(new), reason)
            else:
                with pytest.raises(OutcomeRefused):
                    check_outcome(Outcome(current), Outcome(new), reason)
    # A decline needs its reason from the list; nothing else takes one.
    with pytest.raises(OutcomeRefused):
        check_outcome(Outcome.MADE, Outcome.DECLINED, None)
    with pytest.raises(OutcomeRefused):
        check_outcome(Outcome.MADE, Outcome.ACCEPTED, DeclineReason.NOT_ELIGIBLE)


def test_follow_up_falls_at_the_close_of_the_nth_working_day_after() -> None:
    # From Thu 24 Dec 2026: Fri 25 (Christmas), Sat, Sun and Mon 28 (Boxing Day's substitute)
    # are not working days, so the 1st is Tue 29 Dec and the 2nd Wed 30 Dec; 5 is Tue 5 Jan
    # (Fri 1 Jan is a bank holiday). 17:00 London is 17:00 UTC in winter.
    made = date(2026, 12, 24)
    assert follow_up_due_at(made, 1) == datetime(2026, 12, 29, 17, 0, tzinfo=UTC)
    assert follow_up_due_at(made, 2) == datetime(2026, 12, 30, 17, 0, tzinfo=UTC)
    assert follow_up_due_at(made, 5) == datetime(2027, 1, 5, 17, 0, tzinfo=UTC)
    # In summer, 17:00 London is 16:00 UTC; a Friday's 1st working day is the Monday.
    assert follow_up_due_at(date(2026, 6, 12), 1, time(17)) == datetime(
        2026, 6, 15, 16, 0, tzinfo=UTC
    )


def test_the_follow_up_period_is_configuration(tmp_path: Path) -> None:
    assert load_config(CONFIG).referral_follow_up_working_days == 5
    document = yaml.safe_load(CONFIG.read_text())
    document["referral_follow_up_working_days"] = 0
    bad = tmp_path / "casework.yaml"
    bad.write_text(yaml.safe_dump(document))
    with pytest.raises(ConfigError, match="referral_follow_up_working_days"):
        load_config(bad)


async def _deps(tmp_path: Path, clock: FixedClock) -> CaseworkDeps:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'casework.sqlite3'}")
    await migrate(engine, MIGRATIONS, version_table="alembic_version_casework")
    return CaseworkDeps(
        engine=engine, policy=load_config(CONFIG).deadline_policy(), chase=ChasePolicy(),
        rota=load_rota(ROOT / "deploy" / "config" / "rota.yaml"), clock=clock,
        tasks_topic="tasks", on_commit=lambda: None,
    )  # fmt: skip


async def _task(deps: CaseworkDeps, reference: str, kind: str, assignee: str) -> dict[str, Any]:
    task = {"task_id": f"task-{reference}-{kind}", "case_reference": reference, "kind": kind}
    async with deps.engine.begin() as connection:
        if not await connection.scalar(
            sa.select(sa.func.count()).where(cases.c.case_reference == reference)
        ):
            await connection.execute(cases.insert().values(
                case_reference=reference, pathway="nrm", recorded_at=NOW, opened_at=NOW))  # fmt: skip
        await connection.execute(tasks.insert().values(
            **task, status="open", due_at=NOW + timedelta(days=5), created_at=NOW,
            assignee=assignee, assigned_by="on_duty"))  # fmt: skip
    return task


async def _events(deps: CaseworkDeps, event_type: str) -> list[dict[str, Any]]:
    async with deps.engine.connect() as connection:
        payloads = (await connection.execute(sa.select(outbox.c.payload))).scalars().all()
    return [e for e in map(json.loads, payloads) if e["event_type"] == event_type]


TODAY = NOW.date()


def _named(name: str, made_on: date = TODAY) -> NewReferral:
    return NewReferral(None, name, made_on, "phone")


async def test_outcomes_are_kept_with_who_and_when_and_published(tmp_path: Path) -> None:
    clock = FixedClock(NOW)
    deps = await _deps(tmp_path, clock)
    try:
        housing = await _task(deps, "MS-2026-RF0001", "housing", "advisor-day")
        first = await _task(deps, "MS-2026-RF0001", "first_contact", "advisor-day")
        with pytest.raises(OutcomeRefused, match="not a need"):
            await make_referral(deps, first, _named("Norwich Law Centre"), "advisor-day")
        with pytest.raises(NotInDirectory):
            await make_referral(
                deps, housing, NewReferral("no-such-entry", None, NOW.date(), "email"), "a"
            )
        made = await make_referral(deps, housing, _named("Lynn Tenancy Rescue"), "advisor-day")
        referral_id = made["referral_id"]
        assert (made["outcome"], made["organisation_name"], made["method"]) == (
            "made", "Lynn Tenancy Rescue", "phone")  # fmt: skip
        clock.advance(timedelta(hours=2))
        await record_outcome(deps, housing["task_id"], referral_id, Outcome.WAITING_LIST, None,
                             "advisor-day")  # fmt: skip
        with pytest.raises(OutcomeRefused):  # waiting_list → completed skips acceptance
            await record_outcome(deps, housing["task_id"], referral_id, Outcome.COMPLETED,
                                 None, "advisor-day")  # fmt: skip
        clock.advance(timedelta(hours=1))
        declined = await record_outcome(deps, housing["task_id"], referral_id, Outcome.DECLINED,
                                        DeclineReason.NO_CAPACITY, "head-of-service")  # fmt: skip
        assert [
            (h["from_outcome"], h["to_outcome"], h["decline_reason"], h["actor"], h["at"])
            for h in declined["history"]
        ] == [
            (None, "made", None, "advisor-day", NOW),
            ("made", "waiting_list", None, "advisor-day", NOW + timedelta(hours=2)),
            ("waiting_list", "declined", "no_capacity", "head-of-service", NOW + timedelta(hours=3)),
        ]  # fmt: skip
        with pytest.raises(OutcomeRefused):  # declined is final
            await record_outcome(deps, housing["task_id"], referral_id, Outcome.ACCEPTED, None,
                                 "advisor-day")  # fmt: skip
        events = await _events(deps, "referral.outcome_recorded.v1")
        assert [(e["case_reference"], e["task_id"], e["referral_id"], e["kind"],
                 e["organisation_name"], e["organisation_id"], e["outcome"], e["decline_reason"])
                for e in events] == [
            ("MS-2026-RF0001", housing["task_id"], referral_id, "housing", "Lynn Tenancy Rescue",
             None, outcome, reason)
            for outcome, reason in (("made", None), ("waiting_list", None),
                                    ("declined", "no_capacity"))
        ]  # fmt: skip
        # The history is append-only: the database itself refuses a rewrite.
        with pytest.raises(DBAPIError, match="append-only"):
            async with deps.engine.begin() as connection:
                await connection.execute(referral_history.update().values(actor="x"))
    finally:
        await deps.engine.dispose()


async def test_a_referral_with_no_answer_is_followed_up_once_across_a_restart(
    tmp_path: Path,
) -> None:
    clock = FixedClock(NOW)
    deps = await _deps(tmp_path, clock)
    try:
        housing = await _task(deps, "MS-2026-RF0002", "housing", "advisor-night")
        legal = await _task(deps, "MS-2026-RF0002", "legal_advice", "advisor-day")
        silent = await make_referral(deps, housing, _named("Lynn Tenancy Rescue"), "a")
        answered = await make_referral(deps, legal, _named("Norwich Law Centre"), "a")
        # Backdated: made a week earlier, so already past its follow-up when recorded.
        old = await make_referral(deps, legal, _named("Broadland Advice", date(2026, 12, 17)), "a")
        await record_outcome(deps, legal["task_id"], answered["referral_id"], Outcome.ACCEPTED,
                             None, "a")  # fmt: skip

        async def chased() -> list[tuple[str, str | None, str]]:
            return [
                (e["referral_id"], e["assignee"], e["made_on"])
                for e in await _events(deps, "referral.follow_up_due.v1")
            ]

        # 2 working days from Thu 24 Dec: Wed 30 Dec 17:00 London (UTC in winter).
        assert await follow_up_referrals(deps, 2) == 1  # the backdated one, at once
        clock.advance(datetime(2026, 12, 30, 16, 59, tzinfo=UTC) - NOW)
        assert await follow_up_referrals(deps, 2) == 0
        clock.advance(timedelta(minutes=1))
        assert await follow_up_referrals(deps, 2) == 1
        assert await follow_up_referrals(deps, 2) == 0
        restarted = await _deps(tmp_path, clock)  # a new process, the same database
        clock.advance(timedelta(days=10))
        assert await follow_up_referrals(restarted, 2) == 0
        await restarted.engine.dispose()
        assert await chased() == [
            (old["referral_id"], "advisor-day", "2026-12-17"),
            (silent["referral_id"], "advisor-night", "2026-12-24"),
        ]
        # An answer after the reminder is recorded as ever; nothing is chased again.
        await record_outcome(deps, housing["task_id"], silent["referral_id"], Outcome.ACCEPTED,
                             None, "a")  # fmt: skip
        assert await follow_up_referrals(deps, 2) == 0
    finally:
        await deps.engine.dispose()


async def test_the_figures_count_referrals_by_need_and_outcome(tmp_path: Path) -> None:
    deps = await _deps(tmp_path, FixedClock(NOW))
    try:
        housing = await _task(deps, "MS-2026-RF0003", "housing", "advisor-day")
        legal = await _task(deps, "MS-2026-RF0004", "legal_advice", "advisor-day")
        made = [
            await make_referral(deps, housing, _named(f"Housing Trust {n}"), "a") for n in range(3)
        ]
        legal_made = await make_referral(deps, legal, _named("Norwich Law Centre"), "a")
        await record_outcome(deps, housing["task_id"], made[0]["referral_id"], Outcome.DECLINED,
                             DeclineReason.OUT_OF_AREA, "a")  # fmt: skip
        await record_outcome(deps, legal["task_id"], legal_made["referral_id"], Outcome.ACCEPTED,
                             None, "a")  # fmt: skip
        counts = await figures(deps.engine, NOW, 100)
        assert counts["referrals_by_need_and_outcome"] == {
            "housing": {"made": 2, "declined": 1},
            "legal_advice": {"accepted": 1},
        }
        # The older free `organisation` of a task closed as referred is counted apart, as before.
        assert counts["referrals_by_organisation"] == {}
    finally:
        await deps.engine.dispose()
