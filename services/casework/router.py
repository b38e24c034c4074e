from __future__ import annotations

from faststream import AckPolicy
from faststream.kafka import KafkaRouter

from services.casework.handlers import CaseworkDeps, open_tasks
from shared.events import ReferralEvent


def build_router(deps: CaseworkDeps, referrals_topic: str) -> KafkaRouter:
    router = KafkaRouter()

    @router.subscriber(
        referrals_topic,
        group_id="casework",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        description="Opens a task per support need (plus standard tasks) for each referral.",
    )
    async def on_referral(event: ReferralEvent) -> None:
        await open_tasks(event, deps)

    return router
