"""Onward referral use cases: record a referral on a need task, change its outcome (validated by
the table in services/casework/referrals.py, with an append-only history), read a task's
referrals, and follow up a referral with no answer once (ReferralFollowUpDueV1).

Every referral made and every outcome is published as ReferralOutcomeRecordedV1 on the tasks
topic, through casework's outbox, in the transaction that records it. Only ids, the need, the
organisation (a directory id or a short name with a strict pattern), the outcome and a decline
reason from a fixed list are stored or published: never anything about the person."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.casework.adapters.directory_tables import directory_entries
from services.casework.adapters.referral_tables import (
    referral_follow_ups,
    referral_history,
    referrals,
)
from services.casework.adapters.tables import outbox, tasks
from services.casework.directory import NEED_KINDS
from services.casework.handlers import PRODUCER, CaseworkDeps
from services.casework.referrals import (
    DeclineReason,
    Outcome,
    OutcomeRefused,
    check_outcome,
    needs_follow_up,
)
from shared.db import insert_ignoring_duplicates
from shared.events import ReferralFollowUpDueV1, ReferralOutcomeRecordedV1
from shared.logging import get_logger
from shared.outbox import enqueue

log = get_logger(__name__)


class ReferralNotFound(LookupError):
    pass


class NotInDirectory(ValueError):
    """organisation_id names no live directory entry."""


@dataclass(frozen=True)
class NewReferral:
    organisation_id: str | None
    organisation_name: str | None
    made_on: date
    method: str


async def referrals_of(engine: AsyncEngine, task_id: str) -> list[dict[str, Any]]:
    """The task's referrals, oldest first, each with its outcomes' history, oldest first."""
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                sa.select(referrals)
                .where(referrals.c.task_id == task_id)
                .order_by(referrals.c.created_at, referrals.c.referral_id)
            )
        ).all()
        changes = (
            await connection.execute(
                sa.select(referral_history)
                .where(referral_history.c.referral_id.in_([row.referral_id for row in rows]))
                .order_by(referral_history.c.id)
            )
        ).all()
    history: dict[str, list[dict[str, Any]]] = {}
    for change in changes:
        history.setdefault(change.referral_id, []).append(
            {
                "at": change.at, "actor": change.actor, "from_outcome": change.from_outcome,
                "to_outcome": change.to_outcome, "decline_reason": change.decline_reason,
            }
        )  # fmt: skip
    return [_view(row, history.get(row.referral_id, [])) for row in rows]


def _view(row: Any, history: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "referral_id": row.referral_id, "task_id": row.task_id, "kind": row.kind,
        "organisation_id": row.organisation_id, "organisation_name": row.organisation_name,
        "made_on": row.made_on, "method": row.method, "outcome": row.outcome,
        "decline_reason": row.decline_reason, "created_at": row.created_at,
        "created_by": row.created_by, "updated_at": row.updated_at,
        "updated_by": row.updated_by, "history": history,
    }  # fmt: skip


async def make_referral(
    deps: CaseworkDeps, task: dict[str, Any], new: NewReferral, actor: str
) -> dict[str, Any]:
    """Record a referral (outcome `made`) on a need task. Raises OutcomeRefused (not a need
    task) or NotInDirectory."""
    if task["kind"] not in NEED_KINDS:
        raise OutcomeRefused(f"a {task['kind']} task is not a need: it takes no onward referral")
    now = deps.clock.now()
    referral_id = str(uuid.uuid4())
    async with deps.engine.begin() as connection:
        if new.organisation_id is not None:
            live = await connection.scalar(
                sa.select(sa.func.count()).where(
                    directory_entries.c.entry_id == new.organisation_id,
                    directory_entries.c.retired_at.is_(None),
                )
            )
            if not live:
                raise NotInDirectory(new.organisation_id)
        await connection.execute(
            referrals.insert().values(
                referral_id=referral_id, task_id=task["task_id"],
                case_reference=task["case_reference"], kind=task["kind"],
                organisation_id=new.organisation_id, organisation_name=new.organisation_name,
                made_on=new.made_on, method=new.method, outcome=Outcome.MADE.value,
                decline_reason=None, created_at=now, created_by=actor, updated_at=now,
                updated_by=actor,
            )
        )  # fmt: skip
        await _record(connection, deps, referral_id, None, Outcome.MADE, None, actor, now)
    deps.on_commit()
    log.info("referral_made", kind=task["kind"], method=new.method)
    return await _one(deps.engine, task["task_id"], referral_id)


async def record_outcome(
    deps: CaseworkDeps,
    task_id: str,
    referral_id: str,
    outcome: Outcome,
    reason: DeclineReason | None,
    actor: str,
) -> dict[str, Any]:
    """Change a referral's outcome as the table allows. Raises ReferralNotFound or
    OutcomeRefused (not allowed, or changed meanwhile)."""
    now = deps.clock.now()
    async with deps.engine.begin() as connection:
        row = (
            await connection.execute(
                sa.select(referrals.c.outcome).where(
                    referrals.c.referral_id == referral_id, referrals.c.task_id == task_id
                )
            )
        ).first()
        if row is None:
            raise ReferralNotFound(referral_id)
        current = Outcome(row.outcome)
        check_outcome(current, outcome, reason)
        # Guarded on the outcome read above: of two changes racing from the same outcome, one
        # wins and the other is refused (409), so the history never skips a step.
        changed = await connection.execute(
            referrals.update()
            .where(referrals.c.referral_id == referral_id, referrals.c.outcome == current.value)
            .values(
                outcome=outcome.value,
                decline_reason=reason.value if reason else None,
                updated_at=now,
                updated_by=actor,
            )
        )
        if changed.rowcount != 1:
            raise OutcomeRefused("the referral was changed meanwhile: read it again")
        await _record(connection, deps, referral_id, current, outcome, reason, actor, now)
    deps.on_commit()
    log.info("referral_outcome_recorded", outcome=outcome.value)
    return await _one(deps.engine, task_id, referral_id)


async def _one(engine: AsyncEngine, task_id: str, referral_id: str) -> dict[str, Any]:
    return next(r for r in await referrals_of(engine, task_id) if r["referral_id"] == referral_id)


async def _record(
    connection: AsyncConnection,
    deps: CaseworkDeps,
    referral_id: str,
    current: Outcome | None,
    outcome: Outcome,
    reason: DeclineReason | None,
    actor: str,
    now: datetime,
) -> None:
    """The history row and the event, in the caller's transaction."""
    await connection.execute(
        referral_history.insert().values(
            referral_id=referral_id, from_outcome=current.value if current else None,
            to_outcome=outcome.value, decline_reason=reason.value if reason else None,
            actor=actor, at=now,
        )
    )  # fmt: skip
    row = (
        await connection.execute(sa.select(referrals).where(referrals.c.referral_id == referral_id))
    ).one()
    await enqueue(
        connection, outbox, deps.tasks_topic, row.case_reference,
        ReferralOutcomeRecordedV1(
            occurred_at=now, correlation_id=row.case_reference, producer=PRODUCER,
            case_reference=row.case_reference, task_id=row.task_id, referral_id=referral_id,
            kind=row.kind, organisation_id=row.organisation_id,
            organisation_name=row.organisation_name, outcome=outcome.value,
            decline_reason=reason.value if reason else None,
        ),
    )  # fmt: skip


async def follow_up_referrals(deps: CaseworkDeps, working_days: int) -> int:
    """Publish ReferralFollowUpDueV1 for each referral still `made` after `working_days` working
    days. Each referral is claimed in the transaction that enqueues its event, so a restart
    neither repeats nor skips one; an outcome recorded meanwhile wins (nothing is sent)."""
    now = deps.clock.now()
    closes_at = deps.policy.working_day_closes_at
    async with deps.engine.connect() as connection:
        waiting = (
            await connection.execute(
                sa.select(referrals.c.referral_id, referrals.c.made_on)
                .outerjoin(
                    referral_follow_ups,
                    referral_follow_ups.c.referral_id == referrals.c.referral_id,
                )
                .where(
                    referrals.c.outcome == Outcome.MADE.value,
                    referral_follow_ups.c.referral_id.is_(None),
                )
            )
        ).all()
    due = [
        row.referral_id
        for row in waiting
        if needs_follow_up(Outcome.MADE, row.made_on, working_days, now, closes_at)
    ]
    sent = 0
    for referral_id in due:
        async with deps.engine.begin() as connection:
            row = (
                await connection.execute(
                    sa.select(referrals, tasks.c.assignee)
                    .join(tasks, tasks.c.task_id == referrals.c.task_id)
                    .where(
                        referrals.c.referral_id == referral_id,
                        referrals.c.outcome == Outcome.MADE.value,
                    )
                    # Locked to the commit: an outcome being recorded now (another instance, or
                    # this one's API) waits for the follow-up, or commits first and this finds
                    # the referral no longer `made` (PostgreSQL re-reads a row it waited for).
                    .with_for_update(of=referrals)
                )
            ).first()
            if row is None:  # an outcome came in meanwhile
                continue
            claimed = await connection.execute(
                insert_ignoring_duplicates(connection, referral_follow_ups).values(
                    referral_id=referral_id, case_reference=row.case_reference, claimed_at=now
                )
            )
            if not claimed.rowcount:
                continue
            await enqueue(
                connection, outbox, deps.tasks_topic, row.case_reference,
                ReferralFollowUpDueV1(
                    occurred_at=now, correlation_id=row.case_reference, producer=PRODUCER,
                    case_reference=row.case_reference, task_id=row.task_id,
                    referral_id=referral_id, kind=row.kind, organisation_id=row.organisation_id,
                    organisation_name=row.organisation_name, made_on=row.made_on,
                    assignee=row.assignee,
                ),
            )  # fmt: skip
            sent += 1
    if sent:
        deps.on_commit()
        log.info("referral_follow_ups_sent", referrals=sent)
    return sent
