"""Import leave and cover from an iCalendar file or URL into the notifier's stored rota changes
(the convention is in services/notifier/rota_calendar.py).

    python -m services.notifier.rota_import leave.ics [--source calendar] [--dry-run]
    python -m services.notifier.rota_import https://calendar.example/rota.ics --dry-run

prints what the import adds, updates and removes, and each event it could not take by UID. It
uses the notifier's settings (NOTIFIER_DATABASE_URL, NOTIFIER_ROTA_FILE), so run it where the
notifier runs; a running notifier pages from the new rota from its clock's next pass. The same
import runs from POST /v1/rota/imports (services/notifier/rota_import_api.py) and, for calendar
URLs configured in NOTIFIER_ROTA_CALENDARS, periodically (services/notifier/rota_feeds.py).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.notifier.adapters.rota_tables import rota_changes, staff_actions
from services.notifier.rota_book import RotaBook
from services.notifier.rota_calendar import (
    DEFAULT_SOURCE,
    DEFAULT_WINDOW,
    SOURCE_LABEL,
    CalendarChange,
    CalendarUnreadable,
    EventProblem,
    Fingerprint,
    ImportedChange,
    ImportPlan,
    plan_import,
    read_calendar,
)
from services.notifier.rota_changes import london_wall_clock, merged
from shared.audit import Actor

IMPORTED_BY = "calendar:"  # removed_by of a change an import removed (a person's id otherwise)


@dataclass(frozen=True)
class ImportSummary:
    source: str
    dry_run: bool
    added: int
    updated: int
    removed: int
    unchanged: int
    ignored: int
    kept_removed: int
    problems: tuple[EventProblem, ...]

    def lines(self) -> list[str]:
        would = "would be " if self.dry_run else ""
        lines = [
            f"calendar {self.source}: {self.added} {would}added, {self.updated} {would}updated, "
            f"{self.removed} {would}removed, {self.unchanged} unchanged, {self.ignored} other "
            f"events ignored, {self.kept_removed} kept removed (removed by hand), "
            f"{len(self.problems)} not taken"
        ]
        lines += [f"  {problem.label}: {problem.message}" for problem in self.problems]
        return lines


async def import_calendar(
    book: RotaBook,
    engine: AsyncEngine,
    text: str | bytes,
    actor: Actor,
    source: str = DEFAULT_SOURCE,
    *,
    dry_run: bool = False,
    window: timedelta = DEFAULT_WINDOW,
) -> ImportSummary:
    """Make the stored changes of `source` what the calendar says from `actor.at` on. Raises
    CalendarUnreadable if the text is no calendar; nothing is stored then."""
    if not SOURCE_LABEL.fullmatch(source):
        raise ValueError("a source label is 1-31 lower-case letters, digits, - or _")
    now = actor.at
    await book.refresh(now)
    # Parsing and expanding a large calendar takes a while: off the loop that pages.
    reading = await asyncio.to_thread(read_calendar, text, book.file_rota, now, window)
    imported, removed_by_hand = await _imported(engine, source, now)
    others = merged(book.file_rota, [change for change in book.changes if change.source != source])
    plan = plan_import(reading, imported, removed_by_hand, others, now)
    if not dry_run and (plan.add or plan.update or plan.remove):
        async with engine.begin() as connection:
            await _store(connection, plan, source, actor)
        await book.refresh(now)
    return ImportSummary(
        source=source, dry_run=dry_run, added=len(plan.add), updated=len(plan.update),
        removed=len(plan.remove), unchanged=plan.unchanged, ignored=plan.ignored,
        kept_removed=plan.kept_removed, problems=plan.problems,
    )  # fmt: skip


async def _imported(
    engine: AsyncEngine, source: str, now: datetime
) -> tuple[list[ImportedChange], frozenset[Fingerprint]]:
    """This source's live changes not yet over, and those a person removed by hand."""
    local_now = london_wall_clock(now)
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                sa.select(rota_changes).where(
                    rota_changes.c.import_source == source, rota_changes.c.ends_local > local_now
                )
            )
        ).all()
    live = [
        ImportedChange(
            id=row.id, uid_hash=row.import_uid, occurrence=row.import_occurrence, kind=row.kind,
            person_id=row.person_id, starts=row.starts_local, ends=row.ends_local,
        )
        for row in rows
        if row.removed_at is None
    ]  # fmt: skip
    by_hand = frozenset(
        (row.import_uid, row.import_occurrence, row.kind, row.person_id, row.starts_local,
         row.ends_local, 0, 0)  # stored wall-clock times: fold 0 (rota_changes.check_change)
        for row in rows
        if row.removed_at is not None and not str(row.removed_by).startswith(IMPORTED_BY)
    )  # fmt: skip
    return live, by_hand


async def _store(connection: AsyncConnection, plan: ImportPlan, source: str, actor: Actor) -> None:
    """Each change with its audit record, in the caller's transaction. A moved event's change is
    removed and added again: what the rota said before stays readable."""
    for old in [*plan.remove, *(old for old, _ in plan.update)]:
        await connection.execute(
            rota_changes.update()
            .where(rota_changes.c.id == old.id, rota_changes.c.removed_at.is_(None))
            .values(removed_at=actor.at, removed_by=f"{IMPORTED_BY}{source}")
        )
        await actor.record(
            connection, "rota_change_removed", f"rota_change:{old.id}",
            f"by the import of calendar {source}: its event moved, was cancelled or is gone",
        )  # fmt: skip
    for change in [*plan.add, *(new for _, new in plan.update)]:
        await _insert(connection, change, source, actor)


async def _insert(
    connection: AsyncConnection, change: CalendarChange, source: str, actor: Actor
) -> None:
    inserted = await connection.execute(
        rota_changes.insert().values(
            kind=change.kind, person_id=change.person_id, starts_local=change.starts,
            ends_local=change.ends, created_at=actor.at, created_by=actor.person_id,
            import_source=source, import_uid=change.uid_hash, import_occurrence=change.occurrence,
        )
    )  # fmt: skip
    [change_id] = inserted.inserted_primary_key or (None,)
    await actor.record(
        connection, "rota_change_imported", f"rota_change:{change_id}",
        f"{change.kind} {change.person_id} {change.starts:%Y-%m-%d %H:%M} to "
        f"{change.ends:%Y-%m-%d %H:%M} London, from calendar {source}",
    )  # fmt: skip


def importer(person_id: str, at: datetime) -> Actor:
    return Actor(staff_actions, person_id, at)


async def _run(arguments: argparse.Namespace) -> int:
    # Imported here: the settings and the rota file are the notifier's, read only to run.
    from services.notifier.rota_feeds import FeedProblem, fetch_calendar
    from services.notifier.settings import NotifierSettings
    from shared.db import create_engine
    from shared.rota import load_rota

    settings = NotifierSettings()
    where: str = arguments.calendar
    try:
        if "://" in where:
            text = await fetch_calendar(where)
        else:
            text = await asyncio.to_thread(Path(where).read_bytes)
    except (OSError, FeedProblem) as problem:
        reason = problem if isinstance(problem, FeedProblem) else "the file cannot be read"
        print(f"rota import: {reason}", file=sys.stderr)
        return 2
    engine = create_engine(settings.database_url)
    try:
        book = RotaBook(load_rota(settings.rota_file), engine)
        actor = importer(arguments.by, datetime.now(UTC))
        summary = await import_calendar(
            book, engine, text, actor, arguments.source,
            dry_run=arguments.dry_run, window=timedelta(days=arguments.days),
        )  # fmt: skip
    except CalendarUnreadable as unreadable:
        print(f"rota import: {unreadable}; nothing changed", file=sys.stderr)
        return 2
    finally:
        await engine.dispose()
    print("\n".join(summary.lines()))
    return 1 if summary.problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.notifier.rota_import",
        description="Import leave and cover from an iCalendar file or http(s) URL: events titled "
        "'Leave <person id>' or 'Cover <person id>'. Exit 0: all taken; 1: some events not "
        "taken (listed); 2: nothing read.",
    )
    parser.add_argument("calendar", help="an .ics file, or an http(s) or webcal URL")
    parser.add_argument("--source", default=DEFAULT_SOURCE, help="label of this calendar")
    parser.add_argument("--dry-run", action="store_true", help="show the changes, store none")
    parser.add_argument("--days", type=int, default=DEFAULT_WINDOW.days, help="window ahead")
    parser.add_argument("--by", default="rota-import", help="who runs it (the audit record)")
    arguments = parser.parse_args(argv)
    if not SOURCE_LABEL.fullmatch(arguments.source):
        parser.error("--source is 1-31 lower-case letters, digits, - or _")
    if not 1 <= arguments.days <= 400:
        parser.error("--days is from 1 to 400")
    return asyncio.run(_run(arguments))


if __name__ == "__main__":
    sys.exit(main())
