from __future__ import annotations

from faststream import AckPolicy
from faststream.kafka import KafkaRouter

from services.casework.handlers import (
    CaseworkDeps,
    assign_to_acknowledger,
    open_tasks,
    record_alert_raised,
)
from shared.events import (
    AlertAcknowledgedV1,
    AlertEvent,
    AlertRaisedV1,
    HeartbeatV1,
    OperationAnnouncedV1,
    ReferralTopicEvent,
)
from shared.kafka import (
    FETCH_LOOP_FALLBACK_MS,
    UNHURRIED_FETCH_MAX_WAIT_MS,
    UNHURRIED_FETCH_MIN_BYTES,
)


def build_router(deps: CaseworkDeps, referrals_topic: str, alerts_topic: str) -> KafkaRouter:
    router = KafkaRouter()

    @router.subscriber(
        referrals_topic,
        group_id="casework",
        consumer_timeout_ms=FETCH_LOOP_FALLBACK_MS,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
    )
    async def on_referral(event: ReferralTopicEvent) -> None:
        """Opens a task per support need (plus standard tasks) for each referral or update."""
        if isinstance(event, HeartbeatV1 | OperationAnnouncedV1):
            # The dead-man's switch passes through (services/intake/heartbeat.py), and so does an
            # operation announced ahead (the notifier's and the agenda's): no case, so no task;
            # committed like any handled record, never dead-lettered.
            return
        await open_tasks(event, deps)

    @router.subscriber(
        alerts_topic,
        group_id="casework.alerts",  # its own group: see services/notifier/router.py
        fetch_min_bytes=UNHURRIED_FETCH_MIN_BYTES,  # shared/kafka.py: no haste needed here
        fetch_max_wait_ms=UNHURRIED_FETCH_MAX_WAIT_MS,
        consumer_timeout_ms=FETCH_LOOP_FALLBACK_MS,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
    )
    async def on_alert_event(event: AlertEvent) -> None:
        """Assigns a case's tasks to whoever acknowledged its alert; keeps when a case's first
        alert was raised (the funder's "acknowledged within target")."""
        if isinstance(event, AlertAcknowledgedV1):
            await assign_to_acknowledger(event, deps)
        elif isinstance(event, AlertRaisedV1):
            await record_alert_raised(event, deps)

    return router
