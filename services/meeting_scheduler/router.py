from __future__ import annotations

from faststream import AckPolicy
from faststream.kafka import KafkaRouter

from services.meeting_scheduler.handlers import SchedulerDeps, add_to_agenda
from shared.events import ReferralEvent, ReferralOpenedV1


def build_router(deps: SchedulerDeps, referrals_topic: str) -> KafkaRouter:
    router = KafkaRouter()

    @router.subscriber(
        referrals_topic,
        group_id="meeting_scheduler",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        description="Adds each new adult referral to the next case-panel meeting.",
    )
    async def on_referral(event: ReferralEvent) -> None:
        if isinstance(event, ReferralOpenedV1):
            await add_to_agenda(event, deps)

    return router
