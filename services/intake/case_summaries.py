"""A case as staff may see it without reading the vault: its reference, when the police contact
arrived, the decisions intake made and whether a correction changed them. It selects only the
case row's non-identifying columns, by name: never the police reference, force, fingerprint or
anything from `vault_records`, so no identifier can reach the web console by this path."""

from __future__ import annotations

from typing import Literal

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncEngine

from services.intake.adapters.tables import cases
from shared.api_times import UtcTimestamp


class CaseSummary(BaseModel):
    case_reference: str
    received_at: UtcTimestamp = Field(description="When the police contact arrived at intake.")
    updated_at: UtcTimestamp = Field(description="When a changed contact last updated the case.")
    corrected: bool = Field(description="The police sent changed details after the first contact.")
    pathway: str = Field(description="nrm, duty_to_notify, nrm_decision_pending or child.")
    urgency: str
    district: str
    personal_data: Literal["held", "purged"] = Field(
        description="purged: the retention period ended and the vault record was deleted."
    )
    personal_data_purged_at: UtcTimestamp | None


SUMMARY_COLUMNS = (
    cases.c.case_reference, cases.c.received_at, cases.c.updated_at, cases.c.pathway,
    cases.c.urgency, cases.c.district, cases.c.purged_at,
)  # fmt: skip


async def case_summary(engine: AsyncEngine, case_reference: str) -> CaseSummary | None:
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                sa.select(*SUMMARY_COLUMNS).where(cases.c.case_reference == case_reference)
            )
        ).first()
    if row is None:
        return None
    return CaseSummary(
        case_reference=row.case_reference,
        received_at=row.received_at,
        updated_at=row.updated_at,
        # Only a changed contact moves updated_at (an exact replay changes nothing).
        corrected=row.updated_at > row.received_at,
        pathway=row.pathway,
        urgency=row.urgency,
        district=row.district,
        personal_data="purged" if row.purged_at else "held",
        personal_data_purged_at=row.purged_at,
    )
