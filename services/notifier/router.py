"""Notifier's subscribers: translate the message, call a handler, nothing more."""

from __future__ import annotations

from faststream import AckPolicy
from faststream.kafka import KafkaRouter

from services.notifier.handlers import NotifierDeps, record_alerts
from shared.events import ReferralEvent, ReferralUpdatedV1


def build_router(deps: NotifierDeps, referrals_topic: str) -> KafkaRouter:
    router = KafkaRouter()

    @router.subscriber(
        referrals_topic,
        group_id="notifier",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        description="Alerts the on-duty advisor for each new referral.",
    )
    async def on_referral(event: ReferralEvent) -> None:
        """Alerts the on-duty advisor for a new referral; for a child's, also the children's
        safeguarding contact and the coordinator. Updates do not alert again (yet)."""
        if not isinstance(event, ReferralUpdatedV1):
            await record_alerts(event, deps)

    return router
