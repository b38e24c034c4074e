"""Onward referrals on the case-panel agenda (services/meeting_scheduler/referral_outcomes.py): the
scheduler keeps each referral's latest outcome from casework's ReferralOutcomeRecordedV1, whatever
order they arrive in and however often, and the agenda lists them under each case in the
Markdown, HTML, PDF and JSON. On a real SQLite database migrated as the service migrates, through
the scheduler's own handlers, documents and JSON view. Expected strings are written out here."""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from pypdf import PdfReader
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from services.meeting_scheduler.adapters import tables
from services.meeting_scheduler.agenda import AgendaItem, case_panel_layout
from services.meeting_scheduler.agenda_views import agenda_view
from services.meeting_scheduler.calendar import load_calendar
from services.meeting_scheduler.documents import agenda_documents
from services.meeting_scheduler.handlers import (
    SchedulerDeps,
    add_to_agenda,
    items_for,
    other_business_for,
)
from services.meeting_scheduler.layout import Paragraph, Table
from services.meeting_scheduler.printing import to_html, to_markdown, to_pdf
from services.meeting_scheduler.referral_outcomes import OnwardReferral, record_referral_outcome
from shared.clock import LONDON, FixedClock
from shared.db import alembic_config, create_engine
from shared.events import ReferralOutcomeRecordedV1
from shared.topics import AGENDA
from tests.support.events import referral
from tests.unit.builders import MEETINGS_FILE, ROOT

LOCATION = ROOT / "services" / "meeting_scheduler" / "migrations"
VERSION_TABLE = "alembic_version_meeting_scheduler"
CASE_PANEL = load_calendar(MEETINGS_FILE).case_panel()
MEETING = datetime(2026, 12, 2, 10, 0, tzinfo=LONDON)  # cut-off Monday 30 November 12:00
AT = datetime(2026, 11, 26, 23, 30, tzinfo=UTC)  # Thursday 26 November, 23:30 GMT
CASE, OTHER = "MS-2026-REF001", "MS-2026-REF002"
HEADER = "| Need | Organisation | Outcome | Recorded |"


def _to(connection: Connection, revision: str, down: bool = False) -> None:
    config = alembic_config(LOCATION, connection, VERSION_TABLE)
    (command.downgrade if down else command.upgrade)(config, revision)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'meetings.sqlite3'}")
    async with engine.begin() as connection:
        await connection.run_sync(_to, "meeting_scheduler_0014")
    yield engine
    await engine.dispose()


def outcome(
    referral_id: str,
    at: datetime,
    value: Any = "made",
    *,
    reason: Any = None,
    event_id: uuid.UUID | None = None,
    case: str = CASE,
    **changes: Any,
) -> ReferralOutcomeRecordedV1:
    fields: dict[str, Any] = {
        "occurred_at": at, "correlation_id": case, "producer": "casework", "case_reference": case,
        "task_id": f"task-{referral_id}", "referral_id": referral_id, "kind": "housing",
        "organisation_id": "norwich-housing-options", "outcome": value, "decline_reason": reason,
    }  # fmt: skip
    if event_id is not None:
        fields["event_id"] = event_id
    return ReferralOutcomeRecordedV1(**(fields | changes))


async def _kept(engine: AsyncEngine) -> dict[str, tuple[str, str | None]]:
    async with engine.connect() as connection:
        rows = await connection.execute(sa.select(tables.referral_outcomes))
        return {row.referral_id: (row.outcome, row.decline_reason) for row in rows}


async def test_the_newest_outcome_wins_whatever_the_order_and_redeliveries(
    engine: AsyncEngine,
) -> None:
    made = outcome("r-1", AT)
    assert await record_referral_outcome(made, engine)
    assert not await record_referral_outcome(made, engine)  # redelivered: not newer than itself
    waiting = outcome("r-1", AT + timedelta(days=1), "waiting_list")
    assert await record_referral_outcome(waiting, engine)
    assert await _kept(engine) == {"r-1": ("waiting_list", None)}
    declined = outcome("r-1", AT + timedelta(days=3), "declined", reason="no_capacity")
    assert await record_referral_outcome(declined, engine)
    # A replay from the partition's start: older events, and the newest again, change nothing.
    for event in (made, waiting, declined):
        assert not await record_referral_outcome(event, engine)
    assert await _kept(engine) == {"r-1": ("declined", "no_capacity")}

    # The newest first, then the older one: the newest stays.
    accepted = outcome("r-2", AT + timedelta(hours=5), "accepted", kind="legal_advice")
    assert await record_referral_outcome(accepted, engine)
    assert not await record_referral_outcome(outcome("r-2", AT, kind="legal_advice"), engine)
    assert await _kept(engine) == {"r-1": ("declined", "no_capacity"), "r-2": ("accepted", None)}


async def test_two_outcomes_of_the_same_instant_settle_alike_in_either_order(
    engine: AsyncEngine,
) -> None:
    """Casework's frozen clock (or a fast advisor) can give two changes one time: the later stage
    wins, as casework only moves a referral forward; two final outcomes fall to the event id."""
    low, high = uuid.UUID(int=1), uuid.UUID(int=2)
    for referral_id, events in (
        ("r-a", [outcome("r-a", AT, event_id=high), outcome("r-a", AT, "accepted", event_id=low)]),
        ("r-b", [outcome("r-b", AT, "accepted", event_id=low), outcome("r-b", AT, event_id=high)]),
        ("r-c", [outcome("r-c", AT, "completed", event_id=low),
                 outcome("r-c", AT, "declined", reason="no_capacity", event_id=high)]),
        ("r-d", [outcome("r-d", AT, "declined", reason="no_capacity", event_id=high),
                 outcome("r-d", AT, "completed", event_id=low)]),
    ):  # fmt: skip
        for event in events:
            await record_referral_outcome(event, engine)
        for event in reversed(events):  # replayed in the other order: nothing changes
            assert not await record_referral_outcome(event, engine), referral_id
    assert await _kept(engine) == {
        "r-a": ("accepted", None), "r-b": ("accepted", None),
        "r-c": ("declined", "no_capacity"), "r-d": ("declined", "no_capacity"),
    }  # fmt: skip


def _markdown_rows(markdown: str) -> list[list[str]]:
    """[case reference, cells…] of every row of the Markdown's referral tables."""
    rows: list[list[str]] = []
    case, in_table = "", False
    for line in markdown.splitlines():
        if line.startswith("Case MS-"):
            case = line.removeprefix("Case ")
        elif line == HEADER:
            in_table = bool(case)
        elif in_table and line.startswith("| "):
            rows.append([case, *(cell.strip() for cell in line.strip("|").split("|"))])
        elif not line.startswith("|"):
            in_table = False
    return rows


async def test_the_agenda_lists_each_cases_referrals_in_every_format(engine: AsyncEngine) -> None:
    clock = FixedClock(datetime(2026, 11, 29, 12, 0, tzinfo=UTC))
    deps = SchedulerDeps(engine, load_calendar(MEETINGS_FILE), clock, AGENDA.name, lambda: None)
    # An outcome that arrives before the case's agenda item (another topic) still shows.
    early = outcome("r-early", AT - timedelta(days=2), "accepted", kind="healthcare",
                    organisation_id=None, organisation_name="Lynn Road Surgery")  # fmt: skip
    assert await record_referral_outcome(early, engine)
    assert await add_to_agenda(referral(CASE, clock.now()), deps)
    assert await add_to_agenda(referral(OTHER, clock.now()), deps)  # no referral: no row
    assert await record_referral_outcome(outcome("r-1", AT), engine)
    stranger = outcome("r-x", AT, case="MS-2026-NOTLISTED")  # a case on no agenda here
    assert await record_referral_outcome(stranger, engine)

    markdown = (await agenda_documents(engine, CASE_PANEL, MEETING)).markdown
    assert "### Onward referrals of the new cases" in markdown
    assert "Onward referrals of the reviews" not in markdown  # no review has one
    assert _markdown_rows(markdown) == [
        [CASE, "Healthcare", "Lynn Road Surgery", "Accepted", "24 November 2026"],
        [CASE, "Housing", "norwich-housing-options", "Referred, no answer yet", "26 November 2026"],
    ]
    # A later outcome replaces the row (the date is London's: GMT here).
    declined = outcome("r-1", AT + timedelta(days=2), "declined", reason="person_unreachable")
    assert await record_referral_outcome(declined, engine)
    markdown = (await agenda_documents(engine, CASE_PANEL, MEETING)).markdown
    assert _markdown_rows(markdown)[1] == [
        CASE, "Housing", "norwich-housing-options",
        "Declined: the person could not be reached", "28 November 2026",
    ]  # fmt: skip
    assert "MS-2026-NOTLISTED" not in markdown

    items = await items_for(engine, CASE_PANEL.id, MEETING)
    other = await other_business_for(engine, CASE_PANEL.id, MEETING)
    view = await agenda_view(engine, CASE_PANEL, MEETING, items, other)
    dumped = {item["case_reference"]: item for item in view.model_dump(mode="json")["new_items"]}
    assert dumped[OTHER]["onward_referrals"] == []
    assert dumped[CASE]["onward_referrals"] == [
        {"task_id": "task-r-early", "referral_id": "r-early", "need": "healthcare",
         "organisation_id": None, "organisation_name": "Lynn Road Surgery", "outcome": "accepted",
         "decline_reason": None, "recorded_at": "2026-11-24T23:30:00Z"},
        {"task_id": "task-r-1", "referral_id": "r-1", "need": "housing",
         "organisation_id": "norwich-housing-options", "organisation_name": None,
         "outcome": "declined", "decline_reason": "person_unreachable",
         "recorded_at": "2026-11-28T23:30:00Z"},
    ]  # fmt: skip


ITEM = AgendaItem(
    case_reference="MS-2026-REVW01", district="norwich", exploitation_types=("labour",),
    urgency="priority", open_needs=("housing",), late=False,
    added_at=datetime(2026, 11, 2, 11, 0, tzinfo=LONDON), review=True,
)  # fmt: skip


def _referral(
    need: str, outcome: str, reason: str | None, at: datetime, **org: Any
) -> OnwardReferral:
    organisation = {"organisation_id": None, "organisation_name": None} | org
    return OnwardReferral(f"t-{need}", f"r-{need}", need, outcome=outcome, decline_reason=reason,
                          recorded_at=at, **organisation)  # fmt: skip


def test_the_layout_adds_a_part_under_the_reviews_and_prints_it_whole_in_the_pdf() -> None:
    summer = datetime(2026, 7, 31, 23, 30, tzinfo=UTC)  # 00:30 BST on 1 August
    referrals = (
        _referral("immigration_advice", "completed", None, summer,
                  organisation_id="county-childrens-safeguarding-front-door"),
        _referral("safe_accommodation", "declined", "other_service_more_suitable", summer,
                  organisation_name="The Magdalene Group (Norwich)"),
        _referral("a_need_casework_adds_later", "waiting_list", None,
                  datetime(1, 1, 1, tzinfo=UTC)),  # the calendar's edge: no overflow
    )  # fmt: skip
    items = [replace(ITEM, onward_referrals=referrals), replace(ITEM, review=False,
             case_reference="MS-2026-NEWC01")]  # fmt: skip
    layout = case_panel_layout(CASE_PANEL, MEETING, items)
    headings = [section.heading for section in layout.sections]
    assert headings[2:6] == [
        "3. New cases", "4. Reviews carried over", "Onward referrals of the reviews",
        "5. Actions due",
    ]  # fmt: skip
    part = layout.sections[4]
    assert part.level == 3
    paragraph, table = part.blocks
    assert paragraph == Paragraph("Case MS-2026-REVW01")
    assert isinstance(table, Table)
    assert sum(table.widths) == 100
    assert table.rows == (
        ("Immigration advice", "county-childrens-safeguarding-front-door", "Completed",
         "1 August 2026"),
        ("Safe accommodation", "The Magdalene Group (Norwich)",
         "Declined: another service is more suitable", "1 August 2026"),
        ("A need casework adds later", "not recorded", "On a waiting list",
         f"1 January {datetime(1, 1, 1):%Y}"),
    )  # fmt: skip
    markdown, html = to_markdown(layout), to_html(layout)
    assert "### Onward referrals of the reviews" in markdown
    assert "<h3>Onward referrals of the reviews</h3>" in html
    assert "The Magdalene Group (Norwich)" in html
    # fpdf2 breaks a word too long for its cell by letters: every word comes back whole.
    reader = PdfReader(io.BytesIO(to_pdf(layout)))
    words = set(" ".join(page.extract_text() for page in reader.pages).split())
    expected = {word for row in table.rows for cell in row[:-1] for word in cell.split()}
    expected |= {"Case", "MS-2026-REVW01", "Organisation"}
    assert expected - words == set()


def _differences(connection: Connection) -> list[Any]:
    def ours(item: Any, name: str | None, type_: str, *_: Any) -> bool:
        if type_ == "table":
            return name == "referral_outcomes"
        return getattr(getattr(item, "table", None), "name", None) == "referral_outcomes"

    context = MigrationContext.configure(
        connection, opts={"include_object": ours, "compare_type": True}
    )
    return list(compare_metadata(context, tables.metadata))


async def test_the_migration_builds_what_the_code_uses_and_downgrades(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        assert await connection.run_sync(_differences) == []
    async with engine.begin() as connection:
        await connection.run_sync(_to, "meeting_scheduler_0013", True)
    async with engine.connect() as connection:
        names = await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names())
    assert "referral_outcomes" not in names
    assert "operation_debriefs" in names  # 0013's tables stay
