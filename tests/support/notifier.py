"""Notifier test configuration: a rota whose channels point at the test servers, a policy with
escalation steps seconds apart, and referral events built by hand."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
import yaml
from sqlalchemy.ext.asyncio import AsyncEngine

from services.notifier.adapters.tables import burst_batches, escalation_steps, notifications
from shared.db import create_engine, migrate
from shared.events import (
    District,
    ExploitationType,
    NrmConsent,
    Pathway,
    ReferralOpenedV1,
    SupportNeed,
    Urgency,
)
from tests.support.databases import count_rows
from tests.support.http_gateway import Gateway
from tests.support.system import ROOT
from tests.support.waiting import eventually

PEOPLE = ("advisor-a", "advisor-b", "head")


@contextlib.asynccontextmanager
async def migrated_sqlite(folder: Path) -> AsyncIterator[AsyncEngine]:
    """A notifier database in `folder` at the latest migration, for tests that call the use cases
    directly rather than run the service."""
    from services.notifier.main import MIGRATIONS  # the composition root: only when needed

    engine = create_engine(f"sqlite+aiosqlite:///{folder}/notifier.sqlite3")
    try:
        await migrate(engine, MIGRATIONS, version_table="alembic_version_notifier")
        yield engine
    finally:
        await engine.dispose()


def write_rota(folder: Path, gateway: Gateway, smtp_port: int) -> Path:
    """advisor-a is on duty around the clock; advisor-b is the backup; head is head of service."""

    def channels(person: str) -> dict[str, str]:
        return {
            "sms": gateway.url(f"sms/{person}"),
            "voice": gateway.url(f"voice/{person}"),
            "email": f"mailto://127.0.0.1:{smtp_port}?from=alerts@test.local&to={person}@test.local&mode=insecure",
        }

    rota = {
        "people": [
            {"id": "advisor-a", "role": "advisor", "channels": channels("advisor-a")},
            {"id": "advisor-b", "role": "advisor", "channels": channels("advisor-b")},
            {"id": "head", "role": "head_of_service", "channels": channels("head")},
            {"id": "coordinator", "role": "meeting_coordinator", "channels": {"email": channels("coordinator")["email"]}},
        ],
        "weekly": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun", "bank_holiday"],
                    "start": "00:00", "end": "00:00", "person": "advisor-a"}],
        "last_resort": "head",
    }  # fmt: skip
    path = folder / "rota.yaml"
    path.write_text(json.dumps(rota))  # JSON is YAML
    return path


def write_policy(
    folder: Path, step_seconds: float, repeat_times: int = 0, batch_seconds: float | None = 2.0
) -> Path:
    """deploy/config/alerting.yaml with escalation steps `step_seconds` apart, an SMS for every
    urgency (so an SMS gateway stand-in sees every alert) and raid batches `batch_seconds` long
    (None: the shipped file's burst window and batch, as they are)."""
    policy = yaml.safe_load((ROOT / "deploy" / "config" / "alerting.yaml").read_text())
    minutes = step_seconds / 60
    for urgency in ("immediate", "priority", "routine"):
        policy["escalation"][urgency] = {
            "steps": [
                {"after_minutes": 0, "notify": ["on_duty"]},
                {"after_minutes": minutes, "notify": ["on_duty"]},
                {"after_minutes": 2 * minutes, "notify": ["backup"]},
                {"after_minutes": 3 * minutes, "notify": ["head_of_service"]},
            ],
            "repeat_every_minutes": minutes,
            "repeat_times": repeat_times,
        }
    policy["channels"] = {
        "immediate": ["sms", "voice", "email"],
        "priority": ["sms", "email"],
        "routine": ["sms"],
    }
    policy["max_attempts_per_channel"] = 3
    if batch_seconds is not None:
        policy["bursts"] = {"window_minutes": 10, "batch_minutes": batch_seconds / 60}
    path = folder / "alerting.yaml"
    path.write_text(json.dumps(policy))
    return path


def referral(
    number: int, urgency: Urgency = Urgency.PRIORITY, operation: str | None = None
) -> ReferralOpenedV1:
    return ReferralOpenedV1(
        occurred_at=datetime.now(UTC), correlation_id=f"c-{number}", producer="intake",
        case_reference=f"MS-2026-T{number:05d}", force_code="NFK",
        recorded_at=datetime(2026, 11, 28, 8, 30, tzinfo=UTC), district=District.NORWICH,
        exploitation_types=(ExploitationType.LABOUR,), pathway=Pathway.DUTY_TO_NOTIFY,
        age_unknown=False, urgency=urgency, immediate_risk=urgency is Urgency.IMMEDIATE,
        nrm_consent=NrmConsent.DECLINED, support_needs=(SupportNeed.HEALTHCARE,),
        operation=operation, operation_group=f"NFK:{operation.lower()}" if operation else None,
    )  # fmt: skip


async def wait_sends_settled(database_url: str, within: float = 15.0) -> None:
    """Wait until the notifier has nothing left to send for what it has raised so far: no burst
    batch still collecting and no notification pending (each is delivered, failed over to another
    channel, or cancelled). A send in flight keeps its notification pending until the provider
    has answered and the outcome is recorded, so after this every message raised so far has
    reached the test's servers. Two exceptions: steps not yet due have no notification rows yet,
    and a send in flight when an acknowledgement cancels its notification is no longer pending
    (so acknowledge only once the sends under way have arrived)."""
    unsettled = (
        sa.select(sa.func.count())
        .select_from(notifications)
        .where(notifications.c.status == "pending")
    )
    collecting = (
        sa.select(sa.func.count())
        .select_from(burst_batches)
        .where(burst_batches.c.status == "collecting")
    )

    async def left() -> int:
        return await count_rows(database_url, unsettled) + await count_rows(
            database_url, collecting
        )

    await eventually(left, lambda n: n == 0, within=within, what="notifier sends settled")


async def wait_escalations_finished(database_url: str, within: float = 30.0) -> None:
    """Wait until no escalation step is left to fire and every message it sent is settled
    (`wait_sends_settled`): after this, nothing more can be sent for the alerts raised so far."""
    pending = (
        sa.select(sa.func.count())
        .select_from(escalation_steps)
        .where(escalation_steps.c.status == "pending")
    )
    await eventually(
        lambda: count_rows(database_url, pending), lambda n: n == 0, within=within,
        what="every escalation step fired",
    )  # fmt: skip
    await wait_sends_settled(database_url)
