"""The rota the notifier pages from: the rota file, with the leave and cover stored from the
console merged in (services/notifier/rota_changes.py).

Paging decisions read `deps.rota` synchronously, so the merged rota is kept in memory and reloaded
from the database before every pass of the notifier's clock, which runs at least once a poll
interval, and after every change made here. A later escalation step fires inside a pass, from the
rota just reloaded; an alert's first step fires as it is raised, in the raising transaction, which
reloads it first. A change made through another notifier process is therefore used from this
one's next page.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.notifier.adapters.rota_tables import rota_changes, staff_actions
from services.notifier.rota_changes import (
    ChangeKind,
    ChangeRefused,
    RotaChange,
    check_change,
    london_wall_clock,
    merged,
)
from shared.audit import Actor
from shared.rota import Rota

# Changes that ended longer ago than this matter to no paging decision; the console's rota view
# looks back no further either.
KEPT_AFTER_END = timedelta(days=31)


class RotaBook:
    def __init__(self, file_rota: Rota, engine: AsyncEngine) -> None:
        self.file_rota = file_rota
        self.current = file_rota
        self.changes: tuple[RotaChange, ...] = ()
        self._engine = engine
        # Refreshes run concurrently (each raise, each clock pass, each change made here): one that
        # started earlier, and so may have read an older state, must not replace what a later one
        # has already put in place.
        self._started = 0
        self._applied = 0

    async def refresh(self, now: datetime, connection: AsyncConnection | None = None) -> Rota:
        """Reload the stored changes still of use at `now` and merge them into the file's rota;
        on `connection` if given (a transaction about to page someone), else on one of its own."""
        self._started += 1
        mine = self._started
        since = london_wall_clock(now) - KEPT_AFTER_END
        query = (
            sa.select(rota_changes)
            .where(rota_changes.c.removed_at.is_(None), rota_changes.c.ends_local > since)
            .order_by(rota_changes.c.starts_local, rota_changes.c.id)
        )
        if connection is not None:
            rows = (await connection.execute(query)).all()
        else:
            async with self._engine.connect() as own:
                rows = (await own.execute(query)).all()
        if mine < self._applied:
            return self.current  # a later refresh got here first: its reading is newer
        self._applied = mine
        self.changes = tuple(
            RotaChange(
                id=row.id, kind=row.kind, person_id=row.person_id, starts=row.starts_local,
                ends=row.ends_local, created_by=row.created_by, created_at=row.created_at,
                source=row.import_source,
            )
            for row in rows
        )  # fmt: skip
        self.current = merged(self.file_rota, self.changes)
        return self.current

    async def add(
        self, actor: Actor, kind: ChangeKind, person_id: str, starts: datetime, ends: datetime
    ) -> RotaChange:
        """Check against the rota as it stands now, store with its audit record, use at once.
        `starts`/`ends` are London wall-clock."""
        check_change(await self.refresh(actor.at), kind, person_id, starts, ends, actor.at)
        async with self._engine.begin() as connection:
            inserted = await connection.execute(
                rota_changes.insert().values(
                    kind=kind, person_id=person_id, starts_local=starts, ends_local=ends,
                    created_at=actor.at, created_by=actor.person_id,
                )
            )  # fmt: skip
            [change_id] = inserted.inserted_primary_key or (None,)
            if not isinstance(change_id, int):
                raise RuntimeError("the database gave the new rota change no id")
            await actor.record(
                connection, "rota_change_added", f"rota_change:{change_id}",
                f"{kind} {person_id} {starts:%Y-%m-%d %H:%M} to {ends:%Y-%m-%d %H:%M} London",
            )  # fmt: skip
        await self.refresh(actor.at)
        return RotaChange(change_id, kind, person_id, starts, ends, actor.person_id, actor.at)

    async def remove(self, actor: Actor, change_id: int) -> None:
        """Raises ChangeRefused if there is no such change (or it was removed already)."""
        async with self._engine.begin() as connection:
            removed = await connection.execute(
                rota_changes.update()
                .where(rota_changes.c.id == change_id, rota_changes.c.removed_at.is_(None))
                .values(removed_at=actor.at, removed_by=actor.person_id)
            )
            if removed.rowcount != 1:
                raise ChangeRefused("no such rota change")
            await actor.record(connection, "rota_change_removed", f"rota_change:{change_id}")
        await self.refresh(actor.at)

    def actor(self, person_id: str, at: datetime) -> Actor:
        return Actor(staff_actions, person_id, at)
