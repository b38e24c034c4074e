"""The funder's quarterly report, casework's side: read the facts from casework's tables, compute
a quarter's and the project-to-date figures (services/casework/quarters.py), and publish them as
CaseworkQuarterV1 through the outbox, once per quarter and version.

Each publication is claimed by inserting its (quarter, version) row in the transaction that
enqueues the event: a restart or a second instance finds the row and publishes nothing, and a
rebuild asked for by the head of service takes the next version.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.casework.adapters.criminal_justice_tables import criminal_justice
from services.casework.adapters.quarter_tables import (
    alert_acknowledgements,
    case_alerts,
    quarterly_reports,
)
from services.casework.adapters.referral_tables import referrals
from services.casework.adapters.tables import cases, outbox, tasks
from services.casework.domain import FIRST_CONTACT
from services.casework.handlers import PRODUCER, SYSTEM, CaseworkDeps
from services.casework.lifecycle import Status
from services.casework.quarters import (
    CaseFacts,
    Quarter,
    ReferralFact,
    ReportPolicy,
    last_closed_quarter,
    period_figures,
)
from shared.db import insert_ignoring_duplicates
from shared.events import CaseworkQuarterV1, QuarterCaseworkFigures
from shared.logging import get_logger
from shared.outbox import enqueue
from shared.sqlite_driver import on_database_thread

log = get_logger(__name__)


class QuarterRefused(ValueError):
    """The quarter cannot be reported (not ended, or before the project): safe to return."""


class RebuildClashed(RuntimeError):
    """Another rebuild of the quarter took the same version first."""


@on_database_thread  # every case and referral: on SQLite it must not hold the loop
async def read_facts(
    engine: AsyncEngine, until: datetime
) -> tuple[list[CaseFacts], list[ReferralFact]]:
    """Every case opened before `until` with what the figures need, and every referral."""
    first_contact = (
        sa.select(tasks.c.case_reference, tasks.c.closed_at)
        .where(tasks.c.kind == FIRST_CONTACT, tasks.c.status == Status.DONE.value)
        .subquery()
    )
    query = (
        sa.select(
            cases.c.pathway, cases.c.nrm_consent, cases.c.recorded_at, cases.c.opened_at,
            first_contact.c.closed_at, case_alerts.c.urgency, case_alerts.c.raised_at,
            alert_acknowledgements.c.acknowledged_at, criminal_justice.c.state,
        )
        .outerjoin(first_contact, first_contact.c.case_reference == cases.c.case_reference)
        .outerjoin(case_alerts, case_alerts.c.case_reference == cases.c.case_reference)
        .outerjoin(alert_acknowledgements, alert_acknowledgements.c.alert_id == case_alerts.c.alert_id)
        .outerjoin(criminal_justice, criminal_justice.c.case_reference == cases.c.case_reference)
        .where(cases.c.opened_at < until)
    )  # fmt: skip
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).all()
        made = (
            await connection.execute(
                sa.select(referrals.c.kind, referrals.c.made_on, referrals.c.outcome)
            )
        ).all()
    facts = [CaseFacts(*row) for row in rows]
    return facts, [ReferralFact(str(kind), day, str(outcome)) for kind, day, outcome in made]


async def quarter_figures(
    engine: AsyncEngine, quarter: Quarter, policy: ReportPolicy
) -> tuple[QuarterCaseworkFigures, QuarterCaseworkFigures]:
    """The quarter's figures and the project's to the quarter's end."""
    start, end = quarter.bounds()
    facts, made = await read_facts(engine, end)
    return (
        period_figures(facts, made, start, end, policy),
        period_figures(facts, made, *policy.to_date_bounds(quarter), policy),
    )


async def published_version(engine: AsyncEngine, quarter: Quarter) -> int | None:
    async with engine.connect() as connection:
        found = (
            await connection.execute(
                sa.select(sa.func.max(quarterly_reports.c.version)).where(
                    quarterly_reports.c.quarter == quarter.name
                )
            )
        ).scalar()
    return int(found) if found is not None else None


def check_reportable(quarter: Quarter, policy: ReportPolicy, now: datetime) -> None:
    if not policy.reportable(quarter):
        raise QuarterRefused(f"{quarter.name} ended before the project started")
    if not quarter.has_ended(now):
        raise QuarterRefused(f"{quarter.name} has not ended yet")


async def publish_quarter(
    deps: CaseworkDeps, policy: ReportPolicy, quarter: Quarter, *, actor: str = SYSTEM,
    rebuild: bool = False,
) -> CaseworkQuarterV1 | None:  # fmt: skip
    """Publish the quarter's CaseworkQuarterV1: version 1 unless published already (then nothing,
    None), or with `rebuild` the next version. Returns the event published."""
    now = deps.clock.now()
    check_reportable(quarter, policy, now)
    in_quarter, to_date = await quarter_figures(deps.engine, quarter, policy)
    async with deps.engine.begin() as connection:
        latest = (
            await connection.execute(
                sa.select(sa.func.max(quarterly_reports.c.version)).where(
                    quarterly_reports.c.quarter == quarter.name
                )
            )
        ).scalar()
        if latest is not None and not rebuild:
            return None
        version = (latest or 0) + 1
        claimed = await connection.execute(
            insert_ignoring_duplicates(connection, quarterly_reports).values(
                quarter=quarter.name, version=version, published_at=now, published_by=actor
            )
        )
        if not claimed.rowcount:  # another instance claimed it between the read and the insert
            if rebuild:
                raise RebuildClashed(f"another rebuild of {quarter.name} took version {version}")
            return None
        event = CaseworkQuarterV1(
            occurred_at=now, correlation_id=f"quarter-{quarter.name}-v{version}",
            producer=PRODUCER, quarter=quarter.name, starts_on=quarter.starts_on,
            ends_on=quarter.ends_on, project_starts=policy.project_starts, target=policy.target,
            version=version, quarter_figures=in_quarter, to_date=to_date,
        )  # fmt: skip
        await enqueue(connection, outbox, deps.tasks_topic, f"quarter-{quarter.name}", event)
    deps.on_commit()
    log.info("quarter_published", quarter=quarter.name, version=version)
    return event


async def publish_closed_quarter(
    deps: CaseworkDeps, policy: ReportPolicy
) -> CaseworkQuarterV1 | None:
    """The timer's work: the last quarter ended in London, once, never one before the project."""
    quarter = last_closed_quarter(deps.clock.now())
    if not policy.reportable(quarter):
        return None
    if await published_version(deps.engine, quarter) is not None:
        return None  # the usual case: nothing to do until the next quarter ends
    return await publish_quarter(deps, policy, quarter)


def figures_view(
    quarter: Quarter, policy: ReportPolicy, in_quarter: QuarterCaseworkFigures,
    to_date: QuarterCaseworkFigures, version: int | None,
) -> dict[str, Any]:  # fmt: skip
    return {
        "quarter": quarter.name, "starts_on": quarter.starts_on, "ends_on": quarter.ends_on,
        "project_starts": policy.project_starts, "target": policy.target,
        "published_version": version, "quarter_figures": in_quarter, "to_date": to_date,
    }  # fmt: skip
