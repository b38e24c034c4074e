from __future__ import annotations

from faststream import AckPolicy
from faststream.kafka import KafkaRouter

from services.meeting_scheduler.funder_reporting import publish_quarter
from services.meeting_scheduler.handlers import (
    SchedulerDeps,
    add_to_agenda,
    record_acknowledgement,
    record_task_event,
    withdraw_child_case,
)
from services.meeting_scheduler.nasn import record_figures, record_referral
from services.meeting_scheduler.operations import record_operation, record_operation_contact
from services.meeting_scheduler.referral_outcomes import record_referral_outcome
from shared.events import (
    AlertAcknowledgedV1,
    AlertEvent,
    CaseworkFiguresV1,
    CaseworkQuarterV1,
    ChildReferralOpenedV1,
    HeartbeatV1,
    OperationAnnouncedV1,
    ReferralOpenedV1,
    ReferralOutcomeRecordedV1,
    ReferralTopicEvent,
    TaskClosedV1,
    TaskEvent,
    TaskOpenedV1,
    TaskOverdueV1,
    TasksOpenedV1,
)
from shared.kafka import (
    FETCH_LOOP_FALLBACK_MS,
    UNHURRIED_FETCH_MAX_WAIT_MS,
    UNHURRIED_FETCH_MIN_BYTES,
)


def build_router(
    deps: SchedulerDeps, referrals_topic: str, tasks_topic: str, alerts_topic: str
) -> KafkaRouter:
    router = KafkaRouter()

    @router.subscriber(
        referrals_topic,
        group_id="meeting_scheduler",
        consumer_timeout_ms=FETCH_LOOP_FALLBACK_MS,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
    )
    async def on_referral(event: ReferralTopicEvent) -> None:
        """Adds each new adult referral to the next case-panel meeting, and counts every referral
        (without identifiers) for the NASN's summary."""
        if isinstance(event, HeartbeatV1):
            # The dead-man's switch passes through (services/intake/heartbeat.py): no case, so no
            # agenda item and no count; committed like any handled record, never dead-lettered.
            return
        if isinstance(event, OperationAnnouncedV1):  # its debrief (operations.py)
            await record_operation(event, deps.engine, deps.calendar)
            return
        await record_operation_contact(event, deps.engine)  # only under an operation group
        if isinstance(event, ReferralOpenedV1):
            await add_to_agenda(event, deps)  # counts it for the NASN too
        if isinstance(event, ChildReferralOpenedV1):
            await record_referral(event, deps.engine)
            await withdraw_child_case(event, deps)

    @router.subscriber(
        tasks_topic,
        group_id="meeting_scheduler.tasks",  # its own group: see services/notifier/router.py
        fetch_min_bytes=UNHURRIED_FETCH_MIN_BYTES,  # shared/kafka.py: no haste needed here
        fetch_max_wait_ms=UNHURRIED_FETCH_MAX_WAIT_MS,
        consumer_timeout_ms=FETCH_LOOP_FALLBACK_MS,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
    )
    async def on_task_event(event: TaskEvent) -> None:
        """Follows casework's tasks (open needs, actions due, which cases are still open), its
        onward referrals' outcomes (listed under each case) and its figures (themes for the
        NASN)."""
        if isinstance(event, TasksOpenedV1 | TaskOpenedV1 | TaskClosedV1 | TaskOverdueV1):
            await record_task_event(event, deps)
        elif isinstance(event, ReferralOutcomeRecordedV1):
            await record_referral_outcome(event, deps.engine)
        elif isinstance(event, CaseworkFiguresV1):
            await record_figures(event, deps.engine)
        elif isinstance(event, CaseworkQuarterV1):  # the funder's report (funder_reporting.py)
            await publish_quarter(event, deps)

    @router.subscriber(
        alerts_topic,
        group_id="meeting_scheduler.alerts",  # its own group: see services/notifier/router.py
        fetch_min_bytes=UNHURRIED_FETCH_MIN_BYTES,  # shared/kafka.py: no haste needed here
        fetch_max_wait_ms=UNHURRIED_FETCH_MAX_WAIT_MS,
        consumer_timeout_ms=FETCH_LOOP_FALLBACK_MS,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
    )
    async def on_alert_event(event: AlertEvent) -> None:
        """Records who acknowledged each case's alert: the agenda's assigned advisor. Every other
        alert event is committed as handled, with no transaction."""
        if isinstance(event, AlertAcknowledgedV1):
            await record_acknowledgement(event, deps)

    return router
