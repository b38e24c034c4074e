"""The agenda, and a case's place on agendas, as data for the web console.

The agenda's sections come from `agenda_sections`, the function the Markdown, HTML and PDF are
rendered from, so an item's position here is its number in the documents. Only what the documents
may show leaves this module: case references, urgency, district, exploitation types, needs, dates
and statuses; the scheduler holds no name."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Literal

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncEngine

from services.meeting_scheduler.adapters.tables import agenda_items, case_tasks
from services.meeting_scheduler.agenda import (
    AdvisorStatus,
    AgendaItem,
    OtherBusiness,
    agenda_sections,
)
from services.meeting_scheduler.calendar import MeetingCalendar, MeetingKind, MeetingSeries
from services.meeting_scheduler.coordinating import deferrals, withdrawals
from services.meeting_scheduler.documents import agenda_documents
from services.meeting_scheduler.minutes import attendance_for, open_actions_before
from services.meeting_scheduler.minutes_api import AttendanceView, OpenActionView
from services.meeting_scheduler.nasn import SMALL_NUMBER, summarise
from services.meeting_scheduler.operations import OperationDebrief, debriefs_for
from services.meeting_scheduler.publishing import Publication, digest_of, latest_publication
from services.meeting_scheduler.referral_outcomes import OnwardReferral
from shared.api_times import UtcTimestamp
from shared.clock import LONDON
from shared.sqlite_driver import on_database_thread


class PublicationState(BaseModel):
    series_id: str
    starts_at: UtcTimestamp
    published: bool = Field(description="A version of this agenda has gone to its recipients.")
    published_version: int | None
    published_at: UtcTimestamp | None = Field(description="When the latest version went out.")
    changed_since_publication: bool = Field(
        description="The agenda differs from the latest version sent (false if never sent)."
    )
    publish_at: UtcTimestamp = Field(
        description="When the agenda goes out by itself (then again after each change)."
    )


class OnwardReferralView(BaseModel):
    """One of the case's onward referrals (casework's), with its latest outcome. The organisation
    is a directory entry's id or, for one not in the directory, its short name."""

    task_id: str = Field(description="The need task the referral was made on (casework's).")
    referral_id: str
    need: str = Field(description="The task's need, e.g. housing.")
    organisation_id: str | None
    organisation_name: str | None
    outcome: str = Field(description="made, accepted, declined, waiting_list or completed.")
    decline_reason: str | None = Field(description="Set when declined: one of casework's list.")
    recorded_at: UtcTimestamp = Field(description="When casework recorded this outcome.")

    @classmethod
    def of(cls, referral: OnwardReferral) -> OnwardReferralView:
        return cls(
            task_id=referral.task_id, referral_id=referral.referral_id, need=referral.need,
            organisation_id=referral.organisation_id,
            organisation_name=referral.organisation_name, outcome=referral.outcome,
            decline_reason=referral.decline_reason, recorded_at=referral.recorded_at,
        )  # fmt: skip


class AgendaItemView(BaseModel):
    position: int = Field(description="Its number in its section, as in the PDF (from 1).")
    case_reference: str
    urgency: str
    district: str
    exploitation_types: list[str]
    open_needs: list[str]
    overdue_actions: list[str]
    late: bool = Field(description="Added after the cut-off (an immediate case).")
    added_at: UtcTimestamp
    assigned_advisor: str | None = Field(
        description="The rota person id of the advisor who acknowledged the case's alert (the "
        "latest acknowledgement), as the agenda's Assigned advisor column shows it; None when "
        "`advisor_status` is not `acknowledged`."
    )
    advisor_status: AdvisorStatus = Field(
        description="acknowledged: `assigned_advisor` took the case; not_yet_acknowledged: nobody "
        "has acknowledged its alert yet; not_recorded: listed before the scheduler recorded "
        "acknowledgements, and none found since."
    )
    onward_referrals: list[OnwardReferralView] = Field(
        description="The case's onward referrals, each with its latest outcome, as the agenda "
        "lists them under its section's table (by need, then the time of the outcome)."
    )


class ActionsDueView(BaseModel):
    case_reference: str
    overdue_actions: list[str]


class WithdrawnItemView(BaseModel):
    case_reference: str
    urgency: str
    reason: str
    withdrawn_at: UtcTimestamp | None = Field(description="None: withdrawn by the service itself.")
    withdrawn_by: str | None


class DeferredItemView(BaseModel):
    case_reference: str
    deferred_to: UtcTimestamp
    deferred_at: UtcTimestamp
    deferred_by: str


class OtherBusinessView(BaseModel):
    text: str
    added_by: str


class OperationDebriefView(BaseModel):
    """A police operation announced ahead, debriefed on the first case panel after it. Each count
    is None when under 3 (suppressed, as the documents print "fewer than 3")."""

    operation: str
    operation_group: str
    district: str
    starts_at: UtcTimestamp
    ends_at: UtcTimestamp
    expected_victims: int
    contacts: int | None
    children: int | None
    consent_given: int | None
    consent_declined: int | None
    tasks_opened: int | None

    @classmethod
    def of(cls, item: OperationDebrief) -> OperationDebriefView:
        def shown(value: int) -> int | None:
            return None if 0 < value < SMALL_NUMBER else value

        return cls(
            operation=item.operation, operation_group=item.operation_group,
            district=item.district, starts_at=item.starts_at, ends_at=item.ends_at,
            expected_victims=item.expected_victims, contacts=shown(item.contacts),
            children=shown(item.children), consent_given=shown(item.consent_given),
            consent_declined=shown(item.consent_declined), tasks_opened=shown(item.tasks_opened),
        )  # fmt: skip


class AgendaView(PublicationState):
    kind: MeetingKind
    title: str
    location: str
    duration_minutes: int
    cutoff_at: UtcTimestamp
    new_items: list[AgendaItemView]
    review_items: list[AgendaItemView] = Field(description="Open cases carried over.")
    actions_due: list[ActionsDueView]
    withdrawn_items: list[WithdrawnItemView]
    deferred_items: list[DeferredItemView] = Field(description="Moved on to a later meeting.")
    other_business: list[OtherBusinessView]
    learning_themes: list[str] = Field(description="NASN meetings: themes flagged this period.")
    attendance: AttendanceView = Field(
        description="Invited (the series' members), present and apologies as recorded."
    )
    open_actions: list[OpenActionView] = Field(
        description="Actions from the series' earlier meetings not yet done, by due date."
    )
    operation_debriefs: list[OperationDebriefView] = Field(
        default_factory=list,
        description="Case panel: police operations announced ahead whose debrief is on this "
        "meeting (the first after each ended), with counts.",
    )


class CaseAgendaEntry(BaseModel):
    series_id: str
    series_title: str
    meeting_starts_at: UtcTimestamp
    meeting_date: date = Field(description="The meeting's date in Europe/London.")
    status: Literal["listed", "deferred", "withdrawn", "discussed"] = Field(
        description="listed: on a meeting still to come; discussed: on a meeting that has taken "
        "place (its minutes: GET /v1/meetings/{series}/{date}/minutes); deferred: moved to the "
        "next meeting; withdrawn."
    )
    at: UtcTimestamp | None = Field(
        description="When: added (listed), moved (deferred, or listed after a deferral), "
        "withdrawn (None if by the service itself), the meeting (discussed), or the meeting it "
        "was carried over from (review)."
    )
    review: bool = Field(description="Carried over: the case is still open.")
    late: bool
    deferred_to: UtcTimestamp | None


def publication_state(
    series: MeetingSeries, starts_at: datetime, latest: Publication | None, markdown: str
) -> PublicationState:
    return PublicationState(
        series_id=series.id,
        starts_at=starts_at,
        published=latest is not None,
        published_version=latest.version if latest else None,
        published_at=latest.published_at if latest else None,
        changed_since_publication=latest is not None and latest.digest != digest_of(markdown),
        publish_at=series.publish_at(starts_at),
    )


async def current_publication(
    engine: AsyncEngine, series: MeetingSeries, starts_at: datetime
) -> PublicationState:
    markdown = (await agenda_documents(engine, series, starts_at)).markdown
    async with engine.connect() as connection:
        latest = await latest_publication(connection, series.id, starts_at)
    return publication_state(series, starts_at, latest, markdown)


def _item_views(items: list[AgendaItem]) -> list[AgendaItemView]:
    return [
        AgendaItemView(
            position=number, case_reference=item.case_reference, urgency=item.urgency,
            district=item.district, exploitation_types=list(item.exploitation_types),
            open_needs=list(item.open_needs), overdue_actions=list(item.overdue_actions),
            late=item.late and not item.review, added_at=item.added_at,
            assigned_advisor=item.advisor.person_id, advisor_status=item.advisor.status,
            onward_referrals=[OnwardReferralView.of(referral) for referral in item.onward_referrals],
        )
        for number, item in enumerate(items, start=1)
    ]  # fmt: skip


@on_database_thread  # every read an agenda needs: on SQLite it must not hold the loop
async def agenda_view(
    engine: AsyncEngine,
    series: MeetingSeries,
    starts_at: datetime,
    items: list[AgendaItem],
    other: list[OtherBusiness],
) -> AgendaView:
    """`items` and `other` as `items_for` and `other_business_for` read them for this meeting."""
    sections = agenda_sections(items)
    async with engine.connect() as connection:
        withdrawn_rows = (
            await connection.execute(
                sa.select(agenda_items)
                .where(
                    agenda_items.c.meeting_series == series.id,
                    agenda_items.c.meeting_starts_at == starts_at,
                    agenda_items.c.withdrawn_reason.is_not(None),
                )
                .order_by(agenda_items.c.added_at, agenda_items.c.case_reference)
            )
        ).all()
    withdrawn_by = await withdrawals(engine, [row.case_reference for row in withdrawn_rows])
    moved = [
        deferral
        for deferral in await deferrals(engine, series_id=series.id)
        if deferral.from_starts_at == starts_at
    ]
    learning: list[str] = []
    if series.kind is MeetingKind.NASN:
        # The period since the previous meeting, as documents.py counts it.
        since = series.previous_before(starts_at) or starts_at - timedelta(days=91)
        learning = list((await summarise(engine, since, starts_at)).learning)
    state = await current_publication(engine, series, starts_at)
    attendance = await attendance_for(engine, series, starts_at)
    carried = await open_actions_before(engine, series, starts_at)
    return AgendaView(
        **state.model_dump(),
        kind=series.kind,
        title=series.title,
        location=series.location,
        duration_minutes=series.duration_minutes,
        cutoff_at=series.cutoff_for(starts_at),
        new_items=_item_views(sections.new),
        review_items=_item_views(sections.reviews),
        actions_due=[
            ActionsDueView(case_reference=item.case_reference, overdue_actions=list(item.overdue_actions))
            for item in sections.due
        ],
        withdrawn_items=[
            WithdrawnItemView(
                case_reference=row.case_reference, urgency=row.urgency, reason=row.withdrawn_reason,
                withdrawn_at=who.at if who else None, withdrawn_by=who.by if who else None,
            )
            for row, who in ((row, withdrawn_by.get(row.case_reference)) for row in withdrawn_rows)
        ],
        deferred_items=[
            DeferredItemView(
                case_reference=deferral.case_reference, deferred_to=deferral.to_starts_at,
                deferred_at=deferral.at, deferred_by=deferral.by,
            )
            for deferral in moved
        ],
        other_business=[OtherBusinessView(text=entry.text, added_by=entry.added_by) for entry in other],
        learning_themes=learning,
        attendance=AttendanceView.of(attendance),
        open_actions=[OpenActionView.of(action) for action in carried],
        operation_debriefs=[
            OperationDebriefView.of(item) for item in await debriefs_for(engine, series.id, starts_at)
        ],
    )  # fmt: skip


async def case_agenda_entries(
    engine: AsyncEngine, calendar: MeetingCalendar, case_reference: str, now: datetime
) -> list[CaseAgendaEntry]:
    """Every meeting a case is or was on, oldest first. An unknown case has none."""
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                sa.select(agenda_items).where(agenda_items.c.case_reference == case_reference)
            )
        ).all()
        tasks = (
            await connection.execute(
                sa.select(case_tasks.c.open).where(case_tasks.c.case_reference == case_reference)
            )
        ).all()
    # As `items_for` decides reviews: open while casework reports an open task, or nothing yet.
    still_open = not tasks or any(task.open for task in tasks)
    titles = {series.id: series for series in calendar.series}
    moved = await deferrals(engine, case_reference=case_reference)
    withdrawn_by = await withdrawals(engine, [case_reference]) if rows else {}
    entries = [
        _entry(titles.get(deferral.series_id), deferral.series_id, deferral.from_starts_at,
               "deferred", deferral.at, deferred_to=deferral.to_starts_at)
        for deferral in moved
    ]  # fmt: skip
    for row in rows:
        series = titles.get(row.meeting_series)
        arrived = next(
            (item.at for item in moved if item.to_starts_at == row.meeting_starts_at), None
        )
        if row.withdrawn_reason is not None:
            who = withdrawn_by.get(case_reference)
            entries.append(
                _entry(series, row.meeting_series, row.meeting_starts_at, "withdrawn",
                       who.at if who else None, late=row.late)
            )  # fmt: skip
            continue
        if row.meeting_starts_at > now:
            entries.append(
                _entry(series, row.meeting_series, row.meeting_starts_at, "listed",
                       arrived or row.added_at, late=row.late)
            )  # fmt: skip
            continue
        entries.append(
            _entry(series, row.meeting_series, row.meeting_starts_at,
                   "discussed", row.meeting_starts_at, late=row.late)
        )  # fmt: skip
        upcoming = series.occurrences_after(now) if series else []
        if still_open and upcoming:
            entries.append(
                _entry(series, row.meeting_series, upcoming[0], "listed", row.meeting_starts_at,
                       review=True)
            )  # fmt: skip
    return sorted(entries, key=lambda entry: (entry.meeting_starts_at, entry.status != "deferred"))


def _entry(
    series: MeetingSeries | None,
    series_id: str,
    starts_at: datetime,
    status: Literal["listed", "deferred", "withdrawn", "discussed"],
    at: datetime | None,
    *,
    late: bool = False,
    review: bool = False,
    deferred_to: datetime | None = None,
) -> CaseAgendaEntry:
    return CaseAgendaEntry(
        series_id=series_id,
        # A series since removed from the calendar keeps its id; its title is no longer known.
        series_title=series.title if series else series_id,
        meeting_starts_at=starts_at,
        meeting_date=starts_at.astimezone(LONDON).date(),
        status=status,
        at=at,
        review=review,
        late=late,
        deferred_to=deferred_to,
    )
