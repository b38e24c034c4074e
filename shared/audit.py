"""Who did what, when: the append-only record of every staff action that changes something.

Each service that takes staff edits keeps a `staff_actions` table (created by
`shared.migration_steps.create_staff_actions_v1`, which also installs triggers refusing UPDATE,
DELETE and, on PostgreSQL, TRUNCATE). A row is written in the same transaction as the change it
records, so there is no change without its record. Intake's vault reads keep their own, older log
(`vault_access_log`), and casework's task changes theirs (`task_history`), in the same spirit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db import UtcDateTime

APPEND_ONLY = "audit records are append-only"


def staff_actions_table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "staff_actions",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("detail", sa.String(500), nullable=True),
    )


@dataclass(frozen=True)
class Actor:
    """The signed-in person making a change, and when (the time comes from the service's clock)."""

    table: sa.Table
    person_id: str
    at: datetime

    async def record(
        self, connection: AsyncConnection, action: str, subject: str, detail: str | None = None
    ) -> None:
        """Write the record inside the caller's transaction."""
        await connection.execute(
            self.table.insert().values(
                at=self.at, person_id=self.person_id, action=action, subject=subject,
                detail=detail[:500] if detail else None,
            )
        )  # fmt: skip
