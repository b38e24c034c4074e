"""Casework's HTTP API, for advisors and the head of service. Every request carries a staff
access token (shared/staff_auth.py); an advisor sees and changes their own and unassigned tasks
(another's task is a 404, as if it did not exist), the head of service all of them and may reassign.
A case's history is the history of the tasks the caller may see. `overdue` is computed with the
service's clock on every read.

No `from __future__ import annotations` here: FastAPI must see the `Staff` dependency alias,
defined inside build_http_app, as an object rather than a string it cannot resolve."""

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from services.casework.directory_http import add_directory_routes
from services.casework.handlers import CaseworkDeps, TaskNotFound, change_status, reassign
from services.casework.lifecycle import Change, Status, TransitionRefused
from services.casework.queries import (
    TaskFilter,
    Viewer,
    case_history,
    figures,
    history_of,
    is_overdue,
    list_tasks,
    task_for,
)
from services.casework.referral_http import add_referral_routes
from shared.api_times import UtcTimestamp
from shared.clock import LONDON
from shared.problems import problems
from shared.rota import Role
from shared.staff_auth import NOT_PERMITTED, StaffAuth, StaffRole, StaffRoute
from shared.staff_auth import Staff as SignedIn


class TaskView(BaseModel):
    task_id: str
    case_reference: str
    kind: str
    status: str
    due_at: UtcTimestamp
    assignee: str | None
    assigned_by: str | None
    organisation: str | None
    detail: str | None
    created_at: UtcTimestamp
    updated_at: UtcTimestamp | None
    closed_at: UtcTimestamp | None
    overdue: bool = Field(description="Open or in progress, and its deadline has passed.")
    referral_method: str | None
    referred_on: date | None
    outcome: str | None = Field(description="A referral's outcome, once known.")


ReferralMethod = Literal["phone", "email", "online_form", "in_person", "letter"]


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a field we would drop is refused, not ignored

    status: Status
    reason: Annotated[str, Field(max_length=500)] | None = None
    organisation: Annotated[str, Field(max_length=64)] | None = None
    outcome: Annotated[str, Field(max_length=500)] | None = None
    method: ReferralMethod | None = Field(default=None, description="referred: how it was made.")
    referred_on: date | None = Field(
        default=None, description="referred: the day it was made (default today); not later."
    )


class HistoryEntry(BaseModel):
    id: int
    task_id: str
    kind: str
    at: UtcTimestamp
    actor: str
    change: str = Field(description="opened, status, assigned or overdue.")
    from_value: str | None
    to_value: str | None
    detail: str | None
    organisation: str | None = Field(description="status → referred: to whom.")
    referral_method: str | None
    referred_on: date | None
    outcome: str | None


class Reassignment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    person_id: Annotated[str, Field(min_length=1, max_length=64)]


def build_http_app(deps: CaseworkDeps, staff_auth: StaffAuth, target: int) -> FastAPI:
    app = FastAPI(title="Safeguarding casework", version="1")
    app.router.route_class = StaffRoute  # sign-in is checked before the body is read
    signed_in = staff_auth.require(StaffRole.ADVISOR, StaffRole.HEAD_OF_SERVICE)

    async def viewer(who: Annotated[SignedIn, Depends(signed_in)]) -> Viewer:
        head = StaffRole.HEAD_OF_SERVICE in who.roles
        return Viewer(who.person_id, Role.HEAD_OF_SERVICE if head else Role.ADVISOR)

    Staff = Annotated[Viewer, Depends(viewer)]

    def with_overdue(task: dict[str, Any]) -> dict[str, Any]:
        return {**task, "overdue": is_overdue(task, deps.clock.now())}

    async def visible_task(task_id: str, staff: Viewer) -> dict[str, Any]:
        # Another advisor's task is "no such task": its existence is not the caller's business.
        task = await task_for(deps.engine, staff, task_id)
        if task is None:
            raise HTTPException(404, "no such task")
        return with_overdue(task)

    @app.get("/v1/tasks", response_model=list[TaskView])
    async def tasks(
        staff: Staff,
        status: Annotated[
            list[Status] | None,
            Query(description="Repeat for several: `status=open&status=in_progress`."),
        ] = None,
        kind: str | None = None,
        case_reference: str | None = None,
        assignee: str | None = None,
        overdue: bool | None = None,
        sort: Annotated[
            Literal["due_at", "-due_at", "created_at", "-created_at"], Query()
        ] = "due_at",
    ) -> list[dict[str, Any]]:
        """Tasks the caller may see, filtered and sorted."""
        wanted = TaskFilter(
            tuple(sorted({s.value for s in status or ()})), kind, case_reference, assignee,
            overdue, sort,
        )  # fmt: skip
        found = await list_tasks(deps.engine, staff, wanted, deps.clock.now())
        return [with_overdue(task) for task in found]

    @app.get("/v1/cases/{case_reference}/tasks", response_model=list[TaskView])
    async def case_tasks(case_reference: str, staff: Staff) -> list[dict[str, Any]]:
        """A case's tasks (those the caller may see), soonest due first."""
        found = await list_tasks(
            deps.engine, staff, TaskFilter(case_reference=case_reference), deps.clock.now()
        )
        return [with_overdue(task) for task in found]

    @app.get("/v1/cases/{case_reference}/history", response_model=list[HistoryEntry])
    async def case_timeline(case_reference: str, staff: Staff) -> list[dict[str, Any]]:
        """Every change to the case's tasks the caller may see (opened, status changes including
        referrals with their organisation, method, date and outcome, assignments, overdue
        reminders), oldest first. None for an unknown case."""
        return await case_history(deps.engine, staff, case_reference)

    # Another advisor's task is "no such task" too (visible_task).
    no_task = problems({404: "No such task, or not the caller's to see"})

    @app.get("/v1/tasks/{task_id}", response_model=TaskView, responses=no_task)
    async def task(task_id: str, staff: Staff) -> dict[str, Any]:
        return await visible_task(task_id, staff)

    @app.get("/v1/tasks/{task_id}/history", responses=no_task)
    async def history(task_id: str, staff: Staff) -> list[dict[str, Any]]:
        """Every change to the task: who, when, from what to what."""
        await visible_task(task_id, staff)
        return await history_of(deps.engine, task_id)

    @app.post(
        "/v1/tasks/{task_id}/status",
        response_model=TaskView,
        responses={
            **no_task,
            **problems(
                {
                    409: "The lifecycle does not allow that change from the task's status",
                    422: "The request is not valid, or referred_on is in the future",
                }
            ),
        },
    )
    async def set_status(task_id: str, body: StatusChange, staff: Staff) -> dict[str, Any]:
        """open → in_progress → done | not_needed (reason) | referred (organisation; method,
        date and outcome if known) → done (outcome)."""
        await visible_task(task_id, staff)
        # A bad date is bad input (422), like a bad method; the lifecycle checks it again.
        if body.referred_on and body.referred_on > deps.clock.now().astimezone(LONDON).date():
            raise HTTPException(422, "referred_on may not be in the future")
        try:
            change = Change(
                body.status, body.reason, body.organisation, body.outcome, body.method,
                body.referred_on,
            )  # fmt: skip
            return with_overdue(await change_status(deps, task_id, change, staff.person_id))
        except TransitionRefused as refused:
            raise HTTPException(409, str(refused)) from None
        except TaskNotFound:
            raise HTTPException(404, "no such task") from None

    @app.post(
        "/v1/tasks/{task_id}/assignee",
        response_model=TaskView,
        responses={
            **no_task,
            **problems(
                {
                    403: '"not permitted": no staff role here, or an advisor handing a task to '
                    "someone who is not an advisor",
                    422: "The request is not valid, or person_id is nobody on the rota",
                }
            ),
        },
    )
    async def set_assignee(task_id: str, body: Reassignment, staff: Staff) -> dict[str, Any]:
        """The head of service may hand any task to anyone on the rota; an advisor may hand a
        task they can see (their own or an unassigned one) to another advisor, as colleagues do
        at a shift change."""
        person = next((p for p in deps.rota.people if p.id == body.person_id), None)
        if person is None:
            raise HTTPException(422, "no such person in the rota")
        if not staff.sees_all:
            await visible_task(task_id, staff)  # another advisor's task: 404, as everywhere
            if person.role is not Role.ADVISOR:
                raise HTTPException(403, NOT_PERMITTED)
        try:
            return with_overdue(await reassign(deps, task_id, body.person_id, staff.person_id))
        except TaskNotFound:
            raise HTTPException(404, "no such task") from None

    @app.get("/v1/figures")
    async def funder_figures(staff: Staff) -> dict[str, Any]:
        """People supported against the target, open and overdue tasks by need, hours from police
        contact to first contact, referrals made by organisation."""
        return await figures(deps.engine, deps.clock.now(), target)

    # The directory of local services and a task's suggestions (services/casework/directory_http.py).
    add_directory_routes(app, deps, staff_auth, viewer, visible_task)
    # A need task's onward referrals and their outcomes (services/casework/referral_http.py).
    add_referral_routes(app, deps, viewer, visible_task)

    return app
