"""Referral events built by hand, for tests that start below intake."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from shared.events import (
    ChildReferralOpenedV1,
    District,
    ExploitationType,
    NrmConsent,
    Pathway,
    ReferralOpenedV1,
    SupportNeed,
    Urgency,
)


def referral(
    reference: str, at: datetime, urgency: Urgency = Urgency.PRIORITY, **changes: Any
) -> ReferralOpenedV1:
    """An adult NRM referral opened at `at`; any field can be changed."""
    fields: dict[str, Any] = {
        "occurred_at": at,
        "correlation_id": f"c-{reference}",
        "producer": "intake",
        "case_reference": reference,
        "force_code": "NFK",
        "recorded_at": at - timedelta(hours=1),
        "district": District.NORWICH,
        "exploitation_types": (ExploitationType.LABOUR,),
        "pathway": Pathway.NRM,
        "age_unknown": False,
        "urgency": urgency,
        "immediate_risk": urgency is Urgency.IMMEDIATE,
        "nrm_consent": NrmConsent.GIVEN,
        "support_needs": (SupportNeed.HEALTHCARE,),
    }
    return ReferralOpenedV1(**(fields | changes))


def child_referral(reference: str, at: datetime, **changes: Any) -> ChildReferralOpenedV1:
    """A child's referral opened at `at` (the child pathway); any field can be changed."""
    fields = referral(reference, at, pathway=Pathway.CHILD).model_dump(exclude={"event_type"})
    return ChildReferralOpenedV1(**(fields | changes))
