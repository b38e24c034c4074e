"""Notifier's subscribers: translate the message, call a use case, nothing more."""

from __future__ import annotations

from collections.abc import Callable

from faststream import AckPolicy
from faststream.kafka import KafkaRouter

from services.notifier.deps import NotifierDeps
from services.notifier.funder_report import raise_for_funder_report
from services.notifier.operations import on_operation_announced
from services.notifier.raising import (
    raise_for_agenda,
    raise_for_booking_reminder,
    raise_for_overdue_task,
    raise_for_referral,
    raise_for_referral_follow_up,
)
from services.notifier.training_pace import raise_for_training_pace
from shared.events import (
    AgendaEvent,
    AgendaPublishedV1,
    CriminalJusticeReminderV1,
    FunderReportPublishedV1,
    HeartbeatV1,
    OperationAnnouncedV1,
    ReferralFollowUpDueV1,
    ReferralTopicEvent,
    ReferralUpdatedV1,
    TaskEvent,
    TaskOverdueV1,
    TrainingPaceWarningV1,
)
from shared.kafka import (
    FETCH_LOOP_FALLBACK_MS,
    UNHURRIED_FETCH_MAX_WAIT_MS,
    UNHURRIED_FETCH_MIN_BYTES,
)


def build_router(
    deps: NotifierDeps,
    referrals: str,
    tasks: str,
    agenda: str,
    on_heartbeat: Callable[[HeartbeatV1], None],
) -> KafkaRouter:
    router = KafkaRouter()

    # One consumer group per subscription: members of one group subscribed to different topics
    # make every start a chain of rebalances, seconds in which no alert is read.
    @router.subscriber(
        referrals,
        group_id="notifier",
        consumer_timeout_ms=FETCH_LOOP_FALLBACK_MS,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
    )
    async def on_referral(event: ReferralTopicEvent) -> None:
        """Alerts the on-duty advisor for a new referral (grouped with its operation's during a
        raid); for a child's, also children's safeguarding and the coordinator, at once. A
        heartbeat (the dead-man's switch) is one attempt at the gateway, never an alert. An
        operation announced ahead is checked against the rota (services/notifier/operations.py)."""
        if isinstance(event, HeartbeatV1):
            on_heartbeat(event)
        elif isinstance(event, OperationAnnouncedV1):
            await on_operation_announced(event, deps)
        elif not isinstance(event, ReferralUpdatedV1):
            await raise_for_referral(event, deps)

    @router.subscriber(
        tasks,
        group_id="notifier.tasks",
        fetch_min_bytes=UNHURRIED_FETCH_MIN_BYTES,  # shared/kafka.py: no haste needed here
        fetch_max_wait_ms=UNHURRIED_FETCH_MAX_WAIT_MS,
        consumer_timeout_ms=FETCH_LOOP_FALLBACK_MS,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
    )
    async def on_task_event(event: TaskEvent) -> None:
        """Reminds the assignee of an overdue task, then the head of service; reminds the case's
        advisor of support booked at an interview or court, and a task's advisor of an onward
        referral with no answer."""
        if isinstance(event, TaskOverdueV1):
            await raise_for_overdue_task(event, deps)
        elif isinstance(event, CriminalJusticeReminderV1):
            await raise_for_booking_reminder(event, deps)
        elif isinstance(event, ReferralFollowUpDueV1):
            await raise_for_referral_follow_up(event, deps)

    @router.subscriber(
        agenda,
        group_id="notifier.agenda",
        fetch_min_bytes=UNHURRIED_FETCH_MIN_BYTES,  # shared/kafka.py: no haste needed here
        fetch_max_wait_ms=UNHURRIED_FETCH_MAX_WAIT_MS,
        consumer_timeout_ms=FETCH_LOOP_FALLBACK_MS,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
    )
    async def on_agenda_event(event: AgendaEvent) -> None:
        """Emails a published agenda, with its files, to the meeting coordinator; tells the head
        of service when training sessions fall behind the pace to the target."""
        if isinstance(event, AgendaPublishedV1):
            await raise_for_agenda(event, deps)
        elif isinstance(event, TrainingPaceWarningV1):
            await raise_for_training_pace(event, deps)
        elif isinstance(event, FunderReportPublishedV1):  # PDF and CSV to the head of service
            await raise_for_funder_report(event, deps)

    return router
