"""An alert's first step fires in the transaction that raises it (services/notifier/escalating.py
`fire_first_step`): its notifications are made with the alert, the sends alone are woken, and the
clock is told when the next step is due instead of being run. What a clock pass used to do for
the first step must still hold: the step is recorded as fired exactly once, a redelivered event
makes nothing new, a routine alert raised out of hours waits for the clock, and a rolled-back
raise leaves no notification behind. The step's notifications are then claimed together, in one
transaction, and still each by one dispatcher only."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.notifier import delivering
from services.notifier.ack_limits import AckLimiter, AckLimits
from services.notifier.adapters.tables import escalation_steps, notifications
from services.notifier.deps import NotifierDeps
from services.notifier.escalating import fire_due_steps
from services.notifier.main import MIGRATIONS
from services.notifier.policy import load_policy
from services.notifier.raising import raise_alert, raise_for_referral
from services.notifier.rota_book import RotaBook
from shared.clock import FixedClock
from shared.db import create_engine, migrate
from shared.events import Urgency
from shared.rota import load_rota
from tests.support import system
from tests.support.events import child_referral, referral
from tests.support.notifier import migrated_sqlite
from tests.support.postgres import Cluster, create_database

pytestmark = pytest.mark.integration

TUESDAY_NOON = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # working hours (GMT = London)
SATURDAY_NOON = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
MONDAY_OPENS = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # routine_hours start, London


@dataclass
class Wakes:
    dispatch: int = 0
    scheduler: int = 0
    outbox: int = 0
    scheduler_in: list[float] = field(default_factory=list)


class NoSends:
    async def send(self, url: str, title: str, body: str, attachments: Any = ()) -> bool:
        raise AssertionError("raising sends nothing itself: the dispatcher does")


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    async with migrated_sqlite(tmp_path) as engine:
        yield engine


def deps_on(engine: AsyncEngine, now: datetime, wakes: Wakes, sender: Any = None) -> NotifierDeps:
    rota = load_rota(system.ROOT / "deploy" / "config" / "rota.yaml")

    def dispatch() -> None:
        wakes.dispatch += 1

    def scheduler() -> None:
        wakes.scheduler += 1

    def outbox() -> None:
        wakes.outbox += 1

    return NotifierDeps(
        engine=engine, rota_book=RotaBook(rota, engine),
        policy=load_policy(system.ROOT / "deploy" / "config" / "alerting.yaml"),
        sender=sender or NoSends(), clock=FixedClock(now), alerts_topic="t.alerts", public_url="http://x",
        ack_secret=base64.b64decode(base64.b64encode(b"k" * 32)), lease=timedelta(seconds=60),
        wake_scheduler=scheduler, wake_outbox=outbox, wake_dispatch=dispatch,
        wake_scheduler_in=wakes.scheduler_in.append, ack_code_ttl=timedelta(hours=24),
        ack_limiter=AckLimiter(engine, b"k" * 32, AckLimits(timedelta(minutes=10), 5, 5, 50)),
    )  # fmt: skip


async def steps_of(engine: AsyncEngine) -> list[tuple[int, str, datetime | None]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            sa.select(
                escalation_steps.c.step, escalation_steps.c.status, escalation_steps.c.fired_at
            ).order_by(escalation_steps.c.step)
        )
        return [(row.step, row.status, row.fired_at) for row in rows]


async def notifications_of(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as connection:
        return list(await connection.execute(sa.select(notifications)))


async def test_the_first_step_fires_with_the_alert_and_only_once(engine: AsyncEngine) -> None:
    wakes = Wakes()
    deps = deps_on(engine, TUESDAY_NOON, wakes)
    event = referral("MS-2026-FIRST1", TUESDAY_NOON, urgency=Urgency.PRIORITY)

    assert await raise_for_referral(event, deps) == "raised"

    steps = await steps_of(engine)
    assert steps[0] == (0, "fired", TUESDAY_NOON)
    assert len(steps) > 1
    assert all(status == "pending" for _, status, _ in steps[1:])
    sent = await notifications_of(engine)
    # The on-duty advisor by each of the priority channels they have (rota.yaml: e-mail, and SMS
    # where a number is set), each with its own code, due now, and no "Reminder" on the first.
    assert sent
    assert {row.step for row in sent} == {0}
    assert len({row.person_id for row in sent}) == 1
    assert len({row.ack_code for row in sent}) == len(sent)
    assert all(row.status == "pending" and row.next_attempt_at == TUESDAY_NOON for row in sent)
    assert not any((row.title or "").startswith("Reminder") for row in sent)
    # The sends and the relay (AlertRaisedV1) are woken, not a whole clock pass; the clock is
    # told of step 1, 30 minutes on.
    assert (wakes.dispatch, wakes.outbox, wakes.scheduler) == (1, 1, 0)
    assert wakes.scheduler_in == [30 * 60]
    # The clock finds nothing left to fire for step 0.
    assert await fire_due_steps(deps) == 0
    assert len(await notifications_of(engine)) == len(sent)

    # Kafka delivers the event again: nothing new, nothing woken.
    assert await raise_for_referral(event, deps) == "duplicate"
    assert len(await notifications_of(engine)) == len(sent)
    assert (wakes.dispatch, wakes.outbox) == (1, 1)


async def test_a_childs_first_step_reaches_childrens_safeguarding_at_once(
    engine: AsyncEngine,
) -> None:
    """The first step's extra targets (a child's alert: children's safeguarding and the
    coordinator, with whoever is on duty) are paged in the raising transaction too."""
    deps = deps_on(engine, TUESDAY_NOON, Wakes())
    event = child_referral("MS-2026-FIRST4", TUESDAY_NOON)

    assert await raise_for_referral(event, deps) == "raised"

    people = {row.person_id for row in await notifications_of(engine)}
    assert {"childrens-safeguarding", "coordinator"} < people
    assert len(people) == 3  # and the advisor on duty


async def test_joining_a_batch_tells_the_clock_when_it_closes(engine: AsyncEngine) -> None:
    """Every case that joins a raid's batch hands the clock the batch's closing time, the case
    that opens it included: a batch the clock was closing as a case joined it is overdue, and
    goes at once with that case instead of at the next poll."""
    wakes = Wakes()
    deps = deps_on(engine, TUESDAY_NOON, wakes)
    first, second, third = (
        referral(f"MS-2026-RAID{n}", TUESDAY_NOON, operation_group="NFK:op-first", operation="F")
        for n in (1, 2, 3)
    )
    assert await raise_for_referral(first, deps) == "raised"
    assert await raise_for_referral(second, deps) == "grouped"
    assert await raise_for_referral(third, deps) == "grouped"
    batch = timedelta(minutes=deps.policy.bursts.batch_minutes).total_seconds()
    assert wakes.scheduler_in == [30 * 60, batch, batch]  # step 1, then the batch twice
    assert wakes.dispatch == 1  # the grouped cases page nobody yet


async def test_a_routine_alert_out_of_hours_waits_for_the_clock(engine: AsyncEngine) -> None:
    wakes = Wakes()
    deps = deps_on(engine, SATURDAY_NOON, wakes)
    event = referral("MS-2026-FIRST2", SATURDAY_NOON, urgency=Urgency.ROUTINE)

    assert await raise_for_referral(event, deps) == "raised"

    assert (await steps_of(engine))[0] == (0, "pending", None)
    assert await notifications_of(engine) == []
    assert wakes.dispatch == 0
    assert wakes.scheduler_in == [(MONDAY_OPENS - SATURDAY_NOON).total_seconds()]


async def test_a_raise_that_rolls_back_leaves_no_notification(engine: AsyncEngine) -> None:
    """The notifications are made on the raising transaction's own connection: a failure later in
    that transaction (here, on purpose) takes them back with the alert, so no message goes out
    for an alert that was never recorded."""
    wakes = Wakes()
    deps = deps_on(engine, TUESDAY_NOON, wakes)
    made_inside: list[int] = []

    async def raise_then_fail() -> None:
        async with engine.begin() as connection:
            raised = await raise_alert(
                connection, deps, kind="referral", subject_key="MS-2026-FIRST3",
                urgency=Urgency.IMMEDIATE, fields={"case_reference": "MS-2026-FIRST3"},
                correlation_id="c-first3", case_references=("MS-2026-FIRST3",),
            )  # fmt: skip
            assert raised is not None
            assert raised.first_step_fired
            made_inside.append(len(list(await connection.execute(sa.select(notifications)))))
            raise RuntimeError("a failure after the raise, before the commit")

    with pytest.raises(RuntimeError, match="after the raise"):
        await raise_then_fail()
    assert made_inside[0] > 0  # made in the transaction, then gone with it:
    assert await notifications_of(engine) == []
    assert await steps_of(engine) == []
    assert wakes.dispatch == 0  # announced only after a commit, and there was none


class RecordingSender:
    def __init__(self) -> None:
        self.bodies: list[str] = []  # each with its notification's own acknowledgement code

    async def send(self, url: str, title: str, body: str, attachments: Any = ()) -> bool:
        await asyncio.sleep(0.01)  # a provider's answer takes a while: the other pass runs
        self.bodies.append(body)
        return True


def commits_on(engine: AsyncEngine) -> list[int]:
    """A list that grows by one at each commit on `engine`."""
    commits: list[int] = []
    sa.event.listen(engine.sync_engine, "commit", lambda connection: commits.append(1))
    return commits


async def test_the_first_steps_notifications_are_claimed_together_once(
    engine: AsyncEngine,
) -> None:
    """One transaction takes the lease of every notification the step made (it was one each),
    in the order asked, each with its alert; a second claim of the same finds them taken."""
    deps = deps_on(engine, TUESDAY_NOON, Wakes())
    assert (
        await raise_for_referral(child_referral("MS-2026-CLAIM1", TUESDAY_NOON), deps) == "raised"
    )
    ids = [str(row.notification_id) for row in await notifications_of(engine)]
    assert len(ids) >= 3  # the advisor, children's safeguarding and the coordinator
    commits = commits_on(engine)

    claimed = await delivering._claim(deps, list(reversed(ids)), TUESDAY_NOON)

    assert [one.row.notification_id for one in claimed] == list(reversed(ids))
    assert {one.alert.case_reference for one in claimed} == {"MS-2026-CLAIM1"}
    assert all(one.files == () for one in claimed)
    assert len(commits) == 1
    leased = {row.next_attempt_at for row in await notifications_of(engine)}
    assert leased == {TUESDAY_NOON + deps.lease}
    assert await delivering._claim(deps, ids, TUESDAY_NOON) == []


@pytest.fixture
async def pg_engine(postgres_cluster: Cluster) -> AsyncIterator[AsyncEngine]:
    name = f"notifier_claims_{uuid.uuid4().hex[:8]}"  # one database a test
    engine = create_engine(await create_database(postgres_cluster.admin_url, name))
    await migrate(engine, MIGRATIONS, version_table="alembic_version_notifier")
    yield engine
    await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def either_engine(request: pytest.FixtureRequest) -> AsyncEngine:
    fixture = {"sqlite": "engine", "postgresql": "pg_engine"}[request.param]
    return cast(AsyncEngine, request.getfixturevalue(fixture))


async def test_a_claim_on_postgresql_skips_a_row_another_transaction_holds(
    pg_engine: AsyncEngine,
) -> None:
    """One update locking several rows in its own order could deadlock with an acknowledgement
    locking the same alert's rows in another; the claim takes the rows it can lock, at once, and
    leaves a row another transaction holds to that transaction."""
    deps = deps_on(pg_engine, TUESDAY_NOON, Wakes())
    assert (
        await raise_for_referral(child_referral("MS-2026-CLAIM9", TUESDAY_NOON), deps) == "raised"
    )
    ids = sorted(str(row.notification_id) for row in await notifications_of(pg_engine))
    async with pg_engine.connect() as holder:
        await holder.execute(
            sa.select(notifications.c.notification_id)
            .where(notifications.c.notification_id == ids[0])
            .with_for_update()
        )
        claimed = await asyncio.wait_for(delivering._claim(deps, ids, TUESDAY_NOON), 5)
        assert [one.row.notification_id for one in claimed] == ids[1:]
        await holder.rollback()
    later = await delivering._claim(deps, ids, TUESDAY_NOON)
    assert [one.row.notification_id for one in later] == ids[:1]


async def test_two_dispatchers_on_one_database_send_each_notification_once(
    either_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As two notifier processes would: both passes find the same notifications due (each
    claims only once both have read them), and the claim's own condition leaves each
    notification to one of them."""
    both_read, claim = asyncio.Barrier(2), delivering._claim

    async def claim_once_both_have_read(*args: Any) -> list[Any]:
        await both_read.wait()
        return await claim(*args)

    monkeypatch.setattr(delivering, "_claim", claim_once_both_have_read)
    sender = RecordingSender()
    engine = either_engine
    deps = deps_on(engine, TUESDAY_NOON, Wakes(), sender)
    for number in range(2):  # six notifications: under the dispatcher's cap of eight
        event = child_referral(f"MS-2026-CLAIM{number + 2}", TUESDAY_NOON)
        assert await raise_for_referral(event, deps) == "raised"
    made = await notifications_of(engine)
    first, second = delivering.Dispatcher(deps), delivering.Dispatcher(deps)

    started = await asyncio.gather(first.deliver_due(), second.deliver_due())
    await asyncio.gather(first.drain(), second.drain())

    assert sum(started) == len(made)
    assert len(set(sender.bodies)) == len(sender.bodies) == len(made)  # none sent twice
    assert {row.status for row in await notifications_of(engine)} == {"delivered"}
