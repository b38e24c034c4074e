"""The case-panel agenda's "Assigned advisor" column: who acknowledged each case's alert
(AlertAcknowledgedV1), "not yet acknowledged" until someone does, and "not recorded" for items listed
before the scheduler kept acknowledgements (migration meeting_scheduler_0011). On a real SQLite
database migrated as the service migrates, through the scheduler's own handlers, documents, JSON
view and publisher; and the PDF's widest table, read back by pypdf, with no word broken across lines.
Expected strings are written out here, not taken from the code."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterable
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
from services.meeting_scheduler.agenda import (
    AgendaItem,
    AssignedAdvisor,
    case_panel_layout,
)
from services.meeting_scheduler.agenda_views import agenda_view
from services.meeting_scheduler.calendar import MeetingCalendar, load_calendar
from services.meeting_scheduler.documents import agenda_documents
from services.meeting_scheduler.handlers import (
    SchedulerDeps,
    add_to_agenda,
    items_for,
    other_business_for,
    record_acknowledgement,
)
from services.meeting_scheduler.layout import Table
from services.meeting_scheduler.nasn import summarise
from services.meeting_scheduler.printing import to_pdf
from services.meeting_scheduler.publishing import Publisher, latest_publication
from shared.clock import LONDON, FixedClock
from shared.db import alembic_config, create_engine
from shared.events import (
    AlertAcknowledgedV1,
    District,
    ExploitationType,
    Pathway,
    SupportNeed,
)
from shared.topics import AGENDA
from tests.support.events import referral
from tests.unit.builders import MEETINGS_FILE, ROOT

LOCATION = ROOT / "services" / "meeting_scheduler" / "migrations"
VERSION_TABLE = "alembic_version_meeting_scheduler"
MEETING = datetime(2026, 12, 2, 10, 0, tzinfo=LONDON)  # cut-off Monday 30 November 12:00
BEFORE_CUTOFF = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
OLD = "MS-2026-OLD001"  # listed before meeting_scheduler_0011


def _to(connection: Connection, revision: str, down: bool = False) -> None:
    config = alembic_config(LOCATION, connection, VERSION_TABLE)
    (command.downgrade if down else command.upgrade)(config, revision)


async def _at_revision(engine: AsyncEngine, revision: str, down: bool = False) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(_to, revision, down)


@pytest.fixture(scope="module")
def calendar() -> MeetingCalendar:
    return load_calendar(MEETINGS_FILE)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A database with one item listed at revision 0010, then brought to the newest revision."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'meetings.sqlite3'}")
    await _at_revision(engine, "meeting_scheduler_0010")
    async with engine.begin() as connection:
        await connection.execute(
            sa.text(
                "INSERT INTO agenda_items (item_id, case_reference, meeting_series, "
                "meeting_starts_at, district, exploitation_types, urgency, open_needs, late, "
                "added_at, pathway, contacted_at) VALUES ('old-1', :reference, 'case-panel', "
                ":starts, 'norwich', 'labour', 'routine', 'housing', 0, :added, 'nrm', :added)"
            ),
            {"reference": OLD, "starts": MEETING.astimezone(UTC), "added": BEFORE_CUTOFF},
        )
    await _at_revision(engine, "head")
    yield engine
    await engine.dispose()


def _deps(engine: AsyncEngine, calendar: MeetingCalendar, clock: FixedClock) -> SchedulerDeps:
    return SchedulerDeps(engine, calendar, clock, AGENDA.name, on_commit=lambda: None)


def acknowledged(
    references: Iterable[str], person_id: str, at: datetime, alert_id: str = "alert-1"
) -> AlertAcknowledgedV1:
    return AlertAcknowledgedV1(
        occurred_at=at, correlation_id="c-ack", producer="notifier", alert_id=alert_id,
        case_references=tuple(references), person_id=person_id, via="link",
    )  # fmt: skip


async def _column(engine: AsyncEngine) -> dict[str, str]:
    """Case reference → what its "Assigned advisor" cell says, read from the Markdown agenda."""
    markdown = (await agenda_documents(engine, CASE_PANEL, MEETING)).markdown
    cells = [line.strip("|").split(" | ") for line in markdown.splitlines()]
    header = next(row for row in cells if row[:2] == [" #", "Reference"])
    assert header[-1] == "Assigned advisor "
    return {row[1]: row[-1].strip() for row in cells if row[0].strip().isdigit()}


CASE_PANEL = load_calendar(MEETINGS_FILE).case_panel()


async def test_the_column_names_the_advisor_or_says_not_yet_or_not_recorded(
    engine: AsyncEngine, calendar: MeetingCalendar
) -> None:
    clock = FixedClock(BEFORE_CUTOFF)
    deps = _deps(engine, calendar, clock)
    assert await add_to_agenda(referral("MS-2026-ACK001", clock.now()), deps)
    assert await add_to_agenda(referral("MS-2026-WAIT01", clock.now()), deps)
    assert await _column(engine) == {
        "MS-2026-ACK001": "not yet acknowledged",
        "MS-2026-WAIT01": "not yet acknowledged",
        OLD: "not recorded",
    }
    ack = acknowledged(["MS-2026-ACK001"], "advisor-day", clock.now() + timedelta(minutes=4))
    assert await record_acknowledgement(ack, deps) == 1
    assert await _column(engine) == {
        "MS-2026-ACK001": "advisor-day",
        "MS-2026-WAIT01": "not yet acknowledged",  # the control: its alert is still open
        OLD: "not recorded",
    }
    # The JSON agenda (the console's, GET .../agenda) says the same.
    items = await items_for(engine, CASE_PANEL.id, MEETING)
    other = await other_business_for(engine, CASE_PANEL.id, MEETING)
    view = await agenda_view(engine, CASE_PANEL, MEETING, items, other)
    assert {
        (item.case_reference, item.assigned_advisor, item.advisor_status) for item in view.new_items
    } == {
        ("MS-2026-ACK001", "advisor-day", "acknowledged"),
        ("MS-2026-WAIT01", None, "not_yet_acknowledged"),
        (OLD, None, "not_recorded"),
    }
    dumped = view.model_dump(mode="json")["new_items"]
    assert {"assigned_advisor", "advisor_status"} <= set(dumped[0])


async def test_acknowledgements_in_any_order_replayed_or_early_keep_the_latest(
    engine: AsyncEngine, calendar: MeetingCalendar
) -> None:
    clock = FixedClock(BEFORE_CUTOFF)
    deps = _deps(engine, calendar, clock)
    at = clock.now()
    # Acknowledged before the scheduler has read the referral (another topic): kept per case.
    early = acknowledged(["MS-2026-EARLY1"], "advisor-night", at, alert_id="alert-early")
    assert await record_acknowledgement(early, deps) == 1
    assert await record_acknowledgement(early, deps) == 0  # redelivered: claimed already
    assert await add_to_agenda(referral("MS-2026-EARLY1", at), deps)
    assert (await _column(engine))["MS-2026-EARLY1"] == "advisor-night"
    # A later alert for the case acknowledged by someone else replaces it; an older
    # acknowledgement arriving after that does not.
    later = acknowledged(["MS-2026-EARLY1"], "advisor-day", at + timedelta(hours=2), "alert-b")
    assert await record_acknowledgement(later, deps) == 1
    stale = acknowledged(["MS-2026-EARLY1"], "head-of-service", at + timedelta(hours=1), "alert-c")
    assert await record_acknowledgement(stale, deps) == 0
    # A grouped alert names several cases; the topic replayed from its start reaches an item
    # listed before the migration too.
    grouped = acknowledged([OLD, "MS-2026-EARLY1"], "head-of-service", at - timedelta(days=1),
                           alert_id="alert-grouped")  # fmt: skip
    assert await record_acknowledgement(grouped, deps) == 1  # the old item only: EARLY1 is newer
    assert await _column(engine) == {"MS-2026-EARLY1": "advisor-day", OLD: "head-of-service"}


async def test_an_acknowledgement_after_publication_sends_a_revised_agenda(
    engine: AsyncEngine, calendar: MeetingCalendar
) -> None:
    clock = FixedClock(BEFORE_CUTOFF)
    deps = _deps(engine, calendar, clock)
    assert await add_to_agenda(referral("MS-2026-PUB001", clock.now()), deps)
    clock.advance(timedelta(hours=23))  # Monday 11:00 GMT: 47 hours before, after publish_at
    publisher = Publisher(engine, calendar, clock, AGENDA.name, lambda: None)

    async def version() -> int | None:
        async with engine.connect() as connection:
            latest = await latest_publication(connection, CASE_PANEL.id, MEETING)
        return latest.version if latest else None

    await publisher.publish_due()
    assert await version() == 1
    await publisher.publish_due()
    assert await version() == 1  # unchanged: nothing sent again
    clock.advance(timedelta(minutes=5))
    ack = acknowledged(["MS-2026-PUB001"], "advisor-day", clock.now())
    assert await record_acknowledgement(ack, deps) == 1
    await publisher.publish_due()
    assert await version() == 2
    markdown = (await agenda_documents(engine, CASE_PANEL, MEETING)).markdown
    assert "(revised: replaces version 1)" in markdown
    assert "| MS-2026-PUB001 |" in markdown
    assert (await _column(engine))["MS-2026-PUB001"] == "advisor-day"


def _differences(connection: Connection) -> list[Any]:
    def ours(item: Any, name: str | None, type_: str, *_: Any) -> bool:
        if type_ == "table":
            return name == "case_advisors"
        if type_ == "column":
            return name == "advisor_recorded" or item.table.name == "case_advisors"
        return getattr(getattr(item, "table", None), "name", None) == "case_advisors"

    context = MigrationContext.configure(
        connection, opts={"include_object": ours, "compare_type": True}
    )
    return list(compare_metadata(context, tables.metadata))


async def test_the_migration_builds_what_the_code_uses_and_downgrades(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        assert await connection.run_sync(_differences) == []
        recorded = (
            await connection.execute(
                sa.select(tables.agenda_items.c.advisor_recorded).where(
                    tables.agenda_items.c.case_reference == OLD
                )
            )
        ).scalar_one()
        assert recorded is False  # listed before: "not recorded", not "not yet acknowledged"
    await _at_revision(engine, "meeting_scheduler_0010", down=True)
    async with engine.connect() as connection:
        names = await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names())
        columns = await connection.run_sync(
            lambda sync: {column["name"] for column in sa.inspect(sync).get_columns("agenda_items")}
        )
    assert "case_advisors" not in names
    assert "advisor_recorded" not in columns
    assert "contacted_at" in columns  # 0010's column stays


# --- The printed column ------------------------------------------------------------------------

# The widest value of every column: a reference of the widest letter, the longest labels, two
# digits of days, the shipped rota's longest id and the longest wording.
WIDEST = AgendaItem(
    case_reference="MS-2026-WWWWWW", district="kings_lynn_west_norfolk",
    exploitation_types=("organ_harvesting", "domestic_servitude"), urgency="immediate",
    open_needs=("safe_accommodation", "immigration_advice", "substance_misuse"), late=True,
    added_at=datetime(2026, 11, 30, 16, 0, tzinfo=LONDON), pathway="nrm_decision_pending",
    contacted_at=datetime(2026, 11, 20, 9, 0, tzinfo=LONDON),
    advisor=AssignedAdvisor("head-of-service"),
)  # fmt: skip
ROWS = [
    ("MS-2026-WWWWWW", "Immediate, added after the cut-off", "King's Lynn and West Norfolk",
     "NRM decision pending", "Organ harvesting, Domestic servitude",
     "Safe accommodation, Immigration advice, Substance misuse", "12", "head-of-service"),
    ("MS-2026-WWWWW2", "Immediate, added after the cut-off", "King's Lynn and West Norfolk",
     "NRM decision pending", "Organ harvesting, Domestic servitude",
     "Safe accommodation, Immigration advice, Substance misuse", "12", "not yet acknowledged"),
    ("MS-2026-WWWWW3", "Immediate, added after the cut-off", "King's Lynn and West Norfolk",
     "NRM decision pending", "Organ harvesting, Domestic servitude",
     "Safe accommodation, Immigration advice, Substance misuse", "12", "not recorded"),
]  # fmt: skip


def _widest_items() -> list[AgendaItem]:
    return [
        WIDEST,
        replace(WIDEST, case_reference="MS-2026-WWWWW2", advisor=AssignedAdvisor()),
        replace(WIDEST, case_reference="MS-2026-WWWWW3",
                advisor=AssignedAdvisor(None, recorded=False)),
    ]  # fmt: skip


def _every_label() -> list[AgendaItem]:
    """Between them every district, exploitation type, need and adult pathway."""
    exploitation, needs = list(ExploitationType), list(SupportNeed)
    pathways = ("nrm", "duty_to_notify", "nrm_decision_pending")
    return [
        replace(
            WIDEST,
            case_reference=f"MS-2026-WWWW{number:02d}",
            district=district.value,
            exploitation_types=(exploitation[number % len(exploitation)].value,),
            open_needs=tuple(need.value for n, need in enumerate(needs) if n % 8 == number),
            pathway=pathways[number % 3],
            late=False,
        )
        for number, district in enumerate(District)
    ]


def _new_cases(items: list[AgendaItem]) -> Table:
    layout = case_panel_layout(CASE_PANEL, MEETING, items)
    new_cases = next(section for section in layout.sections if section.heading == "3. New cases")
    (table,) = new_cases.blocks
    assert isinstance(table, Table)
    return table


def test_the_layout_adds_the_column_last_with_its_three_wordings() -> None:
    table = _new_cases(_widest_items())
    assert table.header == (
        "#", "Reference", "Urgency", "District", "Pathway", "Exploitation", "Open needs",
        "Days since contact", "Assigned advisor",
    )  # fmt: skip
    assert sum(table.widths) == 100
    by_reference = sorted(ROWS)  # one urgency and arrival: in order of reference
    assert [row[1:] for row in table.rows] == by_reference


def test_the_pdf_table_fits_a4_with_no_word_broken_across_lines() -> None:
    """fpdf2 breaks a word that does not fit its column by letters ("acknowledge" / "d"): every
    word of every header and cell must come back whole from the PDF's text."""
    items = [*_widest_items(), *_every_label()]
    pdf = to_pdf(case_panel_layout(CASE_PANEL, MEETING, items))
    reader = PdfReader(io.BytesIO(pdf))
    assert {(round(page.mediabox.width), round(page.mediabox.height)) for page in reader.pages} == {
        (595, 842)
    }  # A4 portrait, in points
    words = set(" ".join(page.extract_text() for page in reader.pages).split())
    table = _new_cases(items)
    assert len(table.rows) == 11  # two-digit row numbers too
    expected = {word for cell in table.header for word in cell.split()}
    expected |= {word for row in table.rows for cell in row for word in cell.split()}
    assert {"acknowledged", "head-of-service", "accommodation,", "MS-2026-WWWWWW"} <= expected
    assert expected - words == set()


async def test_an_adult_referral_is_listed_and_counted_in_one_commit(
    engine: AsyncEngine, calendar: MeetingCalendar
) -> None:
    """The agenda item and the NASN's count go in together (one commit a referral); a child's
    referral is counted with no item; a second delivery of either adds nothing."""
    clock = FixedClock(BEFORE_CUTOFF)
    deps = _deps(engine, calendar, clock)
    adult = referral("MS-2026-CNT001", clock.now())
    child = referral("MS-2026-CNT002", clock.now(), pathway=Pathway.CHILD)
    commits: list[int] = []
    sa.event.listen(engine.sync_engine, "commit", lambda connection: commits.append(1))

    assert await add_to_agenda(adult, deps)
    assert len(commits) == 1
    assert not await add_to_agenda(child, deps)
    assert not await add_to_agenda(adult, deps)  # Kafka delivers it again
    assert not await add_to_agenda(child, deps)

    counted = await summarise(engine, clock.now() - timedelta(days=1), clock.now() + timedelta(1))
    assert counted.referrals == 2
    listed = {item.case_reference for item in await items_for(engine, CASE_PANEL.id, MEETING)}
    assert "MS-2026-CNT001" in listed
    assert "MS-2026-CNT002" not in listed


async def test_a_referral_with_no_meeting_to_go_to_is_still_counted(
    engine: AsyncEngine, calendar: MeetingCalendar
) -> None:
    """The case panel's series has ended (its calendar not yet extended): the referral is retried
    for its item, and perhaps dead-lettered, but the NASN's figures count it all the same."""
    ended = calendar.model_copy(
        update={
            "series": tuple(
                item.model_copy(update={"rrule": "FREQ=WEEKLY;COUNT=1"})
                if item.id == CASE_PANEL.id
                else item
                for item in calendar.series
            )
        }
    )
    clock = FixedClock(BEFORE_CUTOFF)
    with pytest.raises(RuntimeError, match="no upcoming meeting"):
        await add_to_agenda(referral("MS-2026-CNT003", clock.now()), _deps(engine, ended, clock))
    counted = await summarise(engine, clock.now() - timedelta(days=1), clock.now() + timedelta(1))
    assert counted.referrals == 1
