"""Request and response bodies of the minutes API (attendance, decisions, actions).

Inputs are bounded and shaped so that minutes stay minutes: an organisation or role is a short
name (letters, digits and the punctuation organisation names use), a decision or action is one
line of at most 500 characters with no control characters. Errors name the field, never echo the
text (shared/app.py)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from services.meeting_scheduler.minutes import (
    ActionRecord,
    ActionView,
    Attendance,
    ItemMinutes,
    Minutes,
    NewAction,
)
from shared.api_times import UtcTimestamp

# Unicode letters and digits (\w), spaces and . , ' ’ & ( ) / + - : "Children's Services (MASH)",
# "Łódź City Council", "NHS Norfolk & Waveney ICB". No space at either end: the value is kept as
# sent (stripping it would accept what the published pattern refuses).
ORGANISATION_PATTERN = r"^[\w(](?:[\w .,'’&()/+-]*[\w.)’'])?$"
# One line: no C0/C1 control characters, no Unicode line or paragraph separator; no space at
# either end.
_VISIBLE = r"[^\s\x00-\x1f\x7f-\x9f]"
ONE_LINE_PATTERN = rf"^{_VISIBLE}(?:[^\x00-\x1f\x7f-\x9f\u2028\u2029]*{_VISIBLE})?$"
CASE_REFERENCE_PATTERN = r"^MS-\d{4}-[A-Z0-9]+$"

Organisation = Annotated[
    str,
    StringConstraints(min_length=2, max_length=120, pattern=ORGANISATION_PATTERN),
    Field(description="An organisation or role, e.g. Norfolk Constabulary. No person's name."),
]
MinuteText = Annotated[
    str,
    StringConstraints(min_length=3, max_length=500, pattern=ONE_LINE_PATTERN),
    Field(description="One line, no names: the room is multi-agency."),
]
CaseReference = Annotated[str, StringConstraints(max_length=32, pattern=CASE_REFERENCE_PATTERN)]


class AttendanceBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    present: Annotated[list[Organisation], Field(max_length=60)] = []
    apologies: Annotated[list[Organisation], Field(max_length=60)] = []

    @model_validator(mode="after")
    def _each_listed_once(self) -> AttendanceBody:
        names = [name.casefold() for name in [*self.present, *self.apologies]]
        if len(names) != len(set(names)):
            raise ValueError("each organisation is listed once: present or apologies")
        return self


class ActionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: MinuteText
    owner: Organisation
    due: date = Field(description="On or after the meeting's date, at most a year after it.")

    def command(self) -> NewAction:
        return NewAction(self.text, self.owner, self.due)


class ItemMinutesBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    case_reference: CaseReference | None = Field(
        default=None,
        description="A case on the meeting's agenda (new or review); none: the meeting as a whole.",
    )
    decision: MinuteText | None = None
    actions: Annotated[list[ActionBody], Field(max_length=20)] = []

    @model_validator(mode="after")
    def _says_something(self) -> ItemMinutesBody:
        if self.decision is None and not self.actions:
            raise ValueError("an item's minutes need a decision or an action")
        return self

    def command(self) -> ItemMinutes:
        return ItemMinutes(
            self.case_reference, self.decision, tuple(action.command() for action in self.actions)
        )


class MinutesBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: Annotated[list[ItemMinutesBody], Field(min_length=1, max_length=100)]

    @model_validator(mode="after")
    def _each_item_once(self) -> MinutesBody:
        references = [item.case_reference for item in self.items]
        if len(references) != len(set(references)):
            raise ValueError("each item (or the meeting as a whole) appears once")
        return self


class AttendanceView(BaseModel):
    invited: list[str] = Field(description="The series' members.")
    present: list[str]
    apologies: list[str]

    @classmethod
    def of(cls, attendance: Attendance) -> AttendanceView:
        return cls(
            invited=list(attendance.invited),
            present=list(attendance.present),
            apologies=list(attendance.apologies),
        )


class OpenActionView(BaseModel):
    action_id: str
    case_reference: str | None = Field(description="None: an action for the meeting as a whole.")
    text: str
    owner: str
    due: date
    raised_at: UtcTimestamp = Field(description="Start of the meeting that recorded it.")

    @classmethod
    def of(cls, action: ActionView) -> OpenActionView:
        return cls(
            action_id=action.action_id, case_reference=action.case_reference, text=action.text,
            owner=action.owner, due=action.due, raised_at=action.raised_at,
        )  # fmt: skip


class ActionRecordView(BaseModel):
    action_id: str
    series_id: str
    meeting_starts_at: UtcTimestamp = Field(description="The meeting that recorded it.")
    case_reference: str | None
    text: str
    owner: str
    due: date
    done: bool
    done_at: UtcTimestamp | None
    done_by: str | None

    @classmethod
    def of(cls, action: ActionRecord) -> ActionRecordView:
        return cls(
            action_id=action.action_id, series_id=action.series_id,
            meeting_starts_at=action.meeting_starts_at, case_reference=action.case_reference,
            text=action.text, owner=action.owner, due=action.due, done=action.done_at is not None,
            done_at=action.done_at, done_by=action.done_by,
        )  # fmt: skip


class DecisionView(BaseModel):
    case_reference: str | None = Field(description="None: a decision of the meeting as a whole.")
    text: str


class MinutesView(BaseModel):
    series_id: str
    starts_at: UtcTimestamp
    attendance: AttendanceView
    decisions: list[DecisionView]
    actions: list[ActionRecordView] = Field(description="Actions this meeting raised.")

    @classmethod
    def of(cls, series_id: str, starts_at: datetime, minutes: Minutes) -> MinutesView:
        return cls(
            series_id=series_id,
            starts_at=starts_at,
            attendance=AttendanceView.of(minutes.attendance),
            decisions=[
                DecisionView(case_reference=d.case_reference, text=d.text)
                for d in minutes.decisions
            ],
            actions=[ActionRecordView.of(action) for action in minutes.actions],
        )
