"""One instance at a time for a step that reads, decides and writes as a whole (an agenda drafted,
compared with the last version sent and published as the next), where a unique row alone would
let two instances decide on different readings.

On PostgreSQL: a transaction-level advisory lock, held until the caller's transaction commits or
rolls back (a crashed instance's connection drops and PostgreSQL frees it), so a second instance
waits, then reads what the first committed. On SQLite nothing: a service runs as one instance
only there (shared/instance_lock.py)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db import advisory_lock_key


async def one_at_a_time(connection: AsyncConnection, name: str) -> None:
    """Wait for the lock `name` (the same in every process) and hold it to the transaction's end.
    Call it first in the transaction, before the reads the decision depends on."""
    if connection.dialect.name == "postgresql":
        await connection.execute(sa.select(sa.func.pg_advisory_xact_lock(advisory_lock_key(name))))
