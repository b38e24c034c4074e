"""The dead-man's switch's state in the database, so every notifier instance watches the same
pipeline. Heartbeats travel on one key (services/intake/heartbeat.py), hence one partition, hence
one notifier of the group: the others would see none and page a silence that is not there. Here
each instance reads when a heartbeat last went end to end through any of them and whether a page
is out, which the instance that sent it records, so a silence is paged once, not once per
instance."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.notifier.adapters.tables import heartbeat_watch
from shared.db import insert_ignoring_duplicates

ROW = 1


class HeartbeatStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def went_through(self, at: datetime) -> None:
        """A heartbeat emitted at `at` went end to end: kept if newer than the one held."""
        async with self._engine.begin() as connection:
            await connection.execute(
                insert_ignoring_duplicates(connection, heartbeat_watch).values(id=ROW)
            )
            await connection.execute(
                heartbeat_watch.update()
                .where(
                    heartbeat_watch.c.id == ROW,
                    sa.or_(
                        heartbeat_watch.c.last_end_to_end.is_(None),
                        heartbeat_watch.c.last_end_to_end < at,
                    ),
                )
                .values(last_end_to_end=at)
            )

    async def read(self) -> tuple[datetime | None, datetime | None]:
        """(the last heartbeat end to end, since when a "quiet" page is out), as stored."""
        async with self._engine.connect() as connection:
            row = (
                await connection.execute(
                    sa.select(
                        heartbeat_watch.c.last_end_to_end, heartbeat_watch.c.quiet_since
                    ).where(heartbeat_watch.c.id == ROW)
                )
            ).first()
        return (row.last_end_to_end, row.quiet_since) if row is not None else (None, None)

    async def claim(self, expected: datetime | None, new: datetime | None) -> bool:
        """Move "a quiet page is out since" from `expected` to `new`; False when another instance
        moved it first (it sent the same page)."""
        async with self._engine.begin() as connection:
            await connection.execute(
                insert_ignoring_duplicates(connection, heartbeat_watch).values(id=ROW)
            )
            matches = (
                heartbeat_watch.c.quiet_since.is_(None)
                if expected is None
                else heartbeat_watch.c.quiet_since == expected
            )
            moved = await connection.execute(
                heartbeat_watch.update()
                .where(heartbeat_watch.c.id == ROW, matches)
                .values(quiet_since=new)
            )
        return moved.rowcount == 1
