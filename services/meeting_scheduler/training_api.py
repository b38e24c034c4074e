"""The training sessions API: record a session, list them with the progress against the target,
record the number who attended once it has taken place. For the meeting coordinator or the head of
service (as every meeting scheduler route).

Inputs state their rules in the schema (the contract test's fuzzer holds the service to them):
a time is an ISO date-time in 2000-2099 on a real calendar date, with an offset or without one as
London wall-clock time (a number is refused); a topic is a short line about training (letters,
digits and common punctuation, no run of 5 digits as in a phone number, no case reference, no @);
the audience is a list of organisation short names, each once; the materials link is https only;
the number attending a whole number from 0.

No `from __future__ import annotations`: FastAPI must see the sign-in dependency, made inside
add_training_routes, as an object."""

import re
import uuid
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from services.meeting_scheduler.adapters.tables import staff_actions
from services.meeting_scheduler.calendar import TrainingSeries
from services.meeting_scheduler.minutes_api import ORGANISATION_PATTERN
from services.meeting_scheduler.training import (
    NotFound,
    NotYetStarted,
    Pace,
    TrainingSession,
    add_session,
    current_pace,
    list_sessions,
    record_attendance,
)
from shared.api_times import UtcTimestamp
from shared.audit import Actor
from shared.clock import LONDON, Clock
from shared.json_numbers import json_integer
from shared.problems import problems
from shared.staff_auth import Staff, StaffAuth, StaffRole

# A real calendar date in 2000-2099 (29 February in leap years only), a time to the minute with
# optional seconds and microseconds, and an optional offset (none: London wall-clock time).
_DAY = (
    r"(?:20\d\d-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1\d|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)"
    r"|(?:0[13578]|1[02])-31)|20(?:[02468][048]|[13579][26])-02-29)"
)
DATE_TIME_PATTERN = (
    rf"^{_DAY}T(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{{1,6}})?)?"
    r"(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)?$"
)
_DATE_TIME = re.compile(DATE_TIME_PATTERN)
# A line about training, e.g. "Spotting labour exploitation": no case reference (MS-…), no run
# of five digits (a phone number), no @ (an e-mail address); no space at either end.
TOPIC_PATTERN = r"^(?!.*[Mm][Ss]-\d)(?!.*\d{5})[\w(](?:[\w .,'’&()/+:?!-]*[\w.)’'?!])?$"
_TOPIC = re.compile(TOPIC_PATTERN)
# https only: a host (letters, digits, dots, hyphens), an optional port, then printable ASCII.
MATERIALS_URL_PATTERN = (
    r"^https://[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(?::\d{1,5})?(?:/[!-~]*)?$"
)


def _session_time(value: Any) -> datetime:
    """ISO text only (a number is refused); without an offset, London wall-clock time."""
    if not isinstance(value, str) or not _DATE_TIME.fullmatch(value):
        raise ValueError(
            "starts_at must be an ISO date-time (2000-2099), with an offset or as London time"
        )
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=LONDON) if parsed.tzinfo is None else parsed


SessionTime = Annotated[
    datetime,
    BeforeValidator(_session_time),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": DATE_TIME_PATTERN,
            "description": "When the session starts: e.g. 2027-03-10T14:00:00Z, or "
            "2027-03-10T14:00 as London wall-clock time (GMT or BST). No numbers.",
        }
    ),
]
Topic = Annotated[
    str,
    StringConstraints(min_length=3, max_length=120),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 3,
            "maxLength": 120,
            "pattern": TOPIC_PATTERN,
            "description": "What the session is about, e.g. Spotting labour exploitation. "
            "No names, no case references, no contact details.",
        }
    ),
]
Organisation = Annotated[
    str,
    StringConstraints(min_length=2, max_length=120, pattern=ORGANISATION_PATTERN),
    Field(description="An organisation's short name, e.g. Norfolk Constabulary. No names."),
]
MaterialsUrl = Annotated[str, StringConstraints(max_length=500, pattern=MATERIALS_URL_PATTERN)]


class NewTrainingSession(BaseModel):
    model_config = ConfigDict(extra="forbid")

    starts_at: SessionTime
    topic: Topic
    audience: Annotated[
        list[Organisation],
        Field(
            min_length=1,
            max_length=30,
            json_schema_extra={"uniqueItems": True},
            description="The organisations the session is for, each once.",
        ),
    ]
    materials_url: MaterialsUrl | None = Field(
        default=None, description="Where the slides or handouts are (https only)."
    )

    @field_validator("topic")
    @classmethod
    def _topic_shape(cls, value: str) -> str:
        # The Rust regex engine pydantic uses has no look-ahead: the published pattern is
        # checked here with Python's.
        if not _TOPIC.fullmatch(value):
            raise ValueError(
                "topic: a line about training (no case reference, phone number or e-mail)"
            )
        return value

    @field_validator("audience")
    @classmethod
    def _each_once(cls, value: list[str]) -> list[str]:
        if len(value) != len(set(value)):
            raise ValueError("audience: each organisation is listed once")
        return value


class Attendance(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attending: Annotated[int, Field(ge=0, le=10000), BeforeValidator(json_integer)] = Field(
        description="How many attended (a whole number from 0)."
    )


class TrainingSessionView(BaseModel):
    session_id: str
    series_id: str
    starts_at: UtcTimestamp
    topic: str
    audience: list[str]
    materials_url: str | None
    status: Literal["planned", "held"] = Field(description="Held once attendance is recorded.")
    attending: int | None = Field(description="None until the session is held.")
    attendance_recorded_at: UtcTimestamp | None

    @classmethod
    def of(cls, session: TrainingSession) -> "TrainingSessionView":
        return cls(
            session_id=session.session_id, series_id=session.series_id,
            starts_at=session.starts_at, topic=session.topic, audience=list(session.audience),
            materials_url=session.materials_url,
            status="held" if session.held else "planned", attending=session.attending,
            attendance_recorded_at=session.attendance_recorded_at,
        )  # fmt: skip


class TrainingProgress(BaseModel):
    project_starts: date
    period_ends: date = Field(description="The first day after the period.")
    period_years: int
    target: int = Field(description="Sessions to hold in the period.")
    held: int = Field(description="Sessions held (attendance recorded) in the period.")
    planned: int = Field(description="Sessions ahead, not yet held.")
    awaiting_attendance: int = Field(description="Sessions past their start, not yet recorded.")
    expected_by_now: int = Field(
        description="floor(target x elapsed days / period days): due by now on a straight line."
    )
    behind: bool = Field(description="Fewer held than expected by now.")
    shortfall: int = Field(description="expected_by_now - held, at least 0.")


class TrainingSessionList(BaseModel):
    series_id: str
    title: str
    progress: TrainingProgress
    sessions: list[TrainingSessionView] = Field(description="Oldest first.")


def progress_of(found: Pace, sessions: list[TrainingSession], now: datetime) -> TrainingProgress:
    return TrainingProgress(
        project_starts=found.project_starts, period_ends=found.period_ends,
        period_years=found.period_years, target=found.target, held=found.held,
        planned=sum(1 for s in sessions if not s.held and s.starts_at > now),
        awaiting_attendance=sum(1 for s in sessions if not s.held and s.starts_at <= now),
        expected_by_now=found.expected_by_now, behind=found.behind, shortfall=found.shortfall,
    )  # fmt: skip


def add_training_routes(
    app: FastAPI,
    engine: AsyncEngine,
    series: TrainingSeries,
    clock: Clock,
    staff_auth: StaffAuth,
    on_attendance: Callable[[], None],
) -> None:
    """Routes on the scheduler's app (whose route class checks sign-in before the body)."""
    signed_in = staff_auth.require(StaffRole.MEETING_COORDINATOR, StaffRole.HEAD_OF_SERVICE)

    def acting(who: Staff) -> Actor:
        return Actor(staff_actions, who.person_id, clock.now())

    @app.post(
        "/v1/training-sessions",
        response_model=TrainingSessionView,
        status_code=201,
        responses=problems({422: "The request is not valid (the field is named)"}),
    )
    async def new_training_session(
        body: NewTrainingSession, who: Annotated[Staff, Depends(signed_in)]
    ) -> TrainingSessionView:
        """Record a training and awareness session (planned until its attendance is recorded).
        A session already past may be recorded too, then its attendance."""
        added = await add_session(
            engine, series, body.starts_at, body.topic, body.audience, body.materials_url,
            acting(who),
        )  # fmt: skip
        return TrainingSessionView.of(added)

    @app.get("/v1/training-sessions", response_model=TrainingSessionList)
    async def training_sessions(who: Annotated[Staff, Depends(signed_in)]) -> TrainingSessionList:
        """Every session, oldest first, with the progress against the target: held, planned,
        expected by now on a straight line to the target, and whether the project is behind."""
        now = clock.now()
        sessions = await list_sessions(engine, series)
        found = await current_pace(engine, series, now)
        return TrainingSessionList(
            series_id=series.id, title=series.title, progress=progress_of(found, sessions, now),
            sessions=[TrainingSessionView.of(item) for item in sessions],
        )  # fmt: skip

    @app.put(
        "/v1/training-sessions/{session_id}/attendance",
        response_model=TrainingSessionView,
        responses=problems(
            {
                404: "No such training session",
                409: "The session has not started: attendance is recorded after it.",
            }
        ),
    )
    async def training_attendance(
        session_id: uuid.UUID,
        body: Attendance,
        who: Annotated[Staff, Depends(signed_in)],
    ) -> TrainingSessionView:
        """Record how many attended (again: replaces the number): the session is then held."""
        try:
            recorded = await record_attendance(
                engine, str(session_id), body.attending, clock.now(), acting(who)
            )
        except NotFound:
            raise HTTPException(404, "no such training session") from None
        except NotYetStarted:
            raise HTTPException(
                409, "the session has not started: attendance is recorded after it"
            ) from None
        on_attendance()  # the pace check runs again: a session held may clear the warning
        return TrainingSessionView.of(recorded)
