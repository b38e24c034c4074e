"""The directory in casework's database: seeding from the YAML file, reads with the review flag,
staff edits (create / replace / retire), and the suggestions for a need task.

Seeding rule (services/casework/directory.py): the file adds the entries whose id the database
does not hold; an id it holds, live or retired, belongs to the API and is never overwritten."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.casework.adapters.directory_tables import directory_entries
from services.casework.adapters.tables import cases
from services.casework.directory import Entry, EntryBody, matching, review_overdue
from shared.db import insert_ignoring_duplicates
from shared.events import District
from shared.logging import get_logger

log = get_logger(__name__)
SEEDED_BY = "directory-file"


def _values(body: EntryBody, actor: str, now: datetime) -> dict[str, Any]:
    return {
        "name": body.name,
        "needs": list(body.needs),
        "districts": [str(district) for district in body.districts],
        "referral": [route.model_dump() for route in body.how_to_refer],
        "eligibility": body.eligibility,
        "opening_hours": body.opening_hours,
        "review_date": body.review_date,
        "updated_at": now,
        "updated_by": actor,
        "retired_at": None,
    }


def view(row: sa.Row[Any], today: date) -> dict[str, Any]:
    return {
        "id": row.entry_id,
        "name": row.name,
        "needs": row.needs,
        "districts": row.districts,
        "how_to_refer": row.referral,
        "eligibility": row.eligibility,
        "opening_hours": row.opening_hours,
        "review_date": row.review_date,
        "review_overdue": review_overdue(row.review_date, today),
        "updated_at": row.updated_at,
        "updated_by": row.updated_by,
        "retired_at": row.retired_at,
    }


async def seed(engine: AsyncEngine, entries: Sequence[Entry], now: datetime) -> int:
    """Adds the file's entries the database does not hold yet; returns how many."""
    added = 0
    async with engine.begin() as connection:
        for entry in entries:
            result = await connection.execute(
                insert_ignoring_duplicates(connection, directory_entries).values(
                    entry_id=entry.id, **_values(entry, SEEDED_BY, now)
                )
            )
            added += result.rowcount
    log.info("directory_seeded", added=added, in_file=len(entries))
    return added


async def list_entries(
    engine: AsyncEngine,
    today: date,
    need: str | None = None,
    district: District | None = None,
    include_retired: bool = False,
) -> list[dict[str, Any]]:
    """By name. `district`: entries covering it, "all" included; None: every entry."""
    query = sa.select(directory_entries)
    if not include_retired:
        query = query.where(directory_entries.c.retired_at.is_(None))
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    entries = [view(row, today) for row in rows]
    if district is not None:
        return matching(entries, need, district)
    found = [entry for entry in entries if need is None or need in entry["needs"]]
    return sorted(found, key=lambda entry: (entry["name"].casefold(), entry["id"]))


async def get_entry(engine: AsyncEngine, entry_id: str, today: date) -> dict[str, Any] | None:
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                sa.select(directory_entries).where(directory_entries.c.entry_id == entry_id)
            )
        ).first()
    return view(row, today) if row else None


async def put_entry(
    engine: AsyncEngine, entry_id: str, body: EntryBody, actor: str, now: datetime, today: date
) -> tuple[dict[str, Any], bool]:
    """Creates or replaces the entry (a retired one is reinstated); True if it was created."""
    values = _values(body, actor, now)
    async with engine.begin() as connection:
        created = (
            await connection.execute(
                insert_ignoring_duplicates(connection, directory_entries).values(
                    entry_id=entry_id, **values
                )
            )
        ).rowcount == 1
        if not created:
            await connection.execute(
                directory_entries.update()
                .where(directory_entries.c.entry_id == entry_id)
                .values(**values)
            )
        row = (
            await connection.execute(
                sa.select(directory_entries).where(directory_entries.c.entry_id == entry_id)
            )
        ).one()
    log.info("directory_entry_saved", entry_id=entry_id, created=created, by=actor)
    return view(row, today), created


async def retire_entry(engine: AsyncEngine, entry_id: str, actor: str, now: datetime) -> bool:
    """Retires the entry (kept, no longer listed or suggested); False if there is none. Retiring
    a retired entry changes nothing."""
    async with engine.begin() as connection:
        row = (
            await connection.execute(
                sa.select(directory_entries.c.retired_at).where(
                    directory_entries.c.entry_id == entry_id
                )
            )
        ).first()
        if row is None:
            return False
        if row.retired_at is None:
            await connection.execute(
                directory_entries.update()
                .where(directory_entries.c.entry_id == entry_id)
                .values(retired_at=now, updated_at=now, updated_by=actor)
            )
            log.info("directory_entry_retired", entry_id=entry_id, by=actor)
    return True


async def case_district(engine: AsyncEngine, case_reference: str) -> District | None:
    """The case's district from its referral; None for a case opened before casework_0006."""
    async with engine.connect() as connection:
        value = (
            await connection.execute(
                sa.select(cases.c.district).where(cases.c.case_reference == case_reference)
            )
        ).scalar()
    return District(value) if value else None


async def suggest(
    engine: AsyncEngine, need: str, district: District | None, today: date
) -> list[dict[str, Any]]:
    """Live entries meeting `need` and covering `district` ("all" included); with no district,
    only those covering "all"."""
    return matching(await list_entries(engine, today), need, district)
