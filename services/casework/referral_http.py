"""Casework's onward referral endpoints, added to its HTTP app (services/casework/http.py): a need
task's referrals, each to a directory entry or a named organisation, and their outcomes.

Who may read and write: whoever may see the task (an advisor their own and unassigned tasks, the
head of service every task), as for a task's status; another advisor's task is a 404. The bodies
have no free-text field and refuse unknown fields: nothing about the person can be sent here.

No `from __future__ import annotations`: FastAPI must see the dependency aliases as objects."""

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.casework.handlers import CaseworkDeps
from services.casework.queries import Viewer
from services.casework.referral_records import (
    NewReferral,
    NotInDirectory,
    ReferralNotFound,
    make_referral,
    record_outcome,
    referrals_of,
)
from services.casework.referrals import (
    ORGANISATION_ID,
    ORGANISATION_NAME,
    DeclineReason,
    Method,
    Outcome,
    OutcomeRefused,
)
from shared.api_times import UtcTimestamp
from shared.clock import LONDON
from shared.problems import problems


class ReferralChangeView(BaseModel):
    at: UtcTimestamp
    actor: str = Field(description="Staff id of whoever recorded it.")
    from_outcome: Outcome | None = Field(description="None: the referral was made.")
    to_outcome: Outcome
    decline_reason: DeclineReason | None


class ReferralView(BaseModel):
    referral_id: str
    task_id: str
    kind: str = Field(description="The task's need, e.g. housing.")
    organisation_id: str | None = Field(description="A directory entry's id, if in the directory.")
    organisation_name: str | None = Field(description="Otherwise the organisation's short name.")
    made_on: date
    method: Method
    outcome: Outcome
    decline_reason: DeclineReason | None
    created_at: UtcTimestamp
    created_by: str
    updated_at: UtcTimestamp
    updated_by: str
    history: list[ReferralChangeView] = Field(description="Every outcome, oldest first.")


class _Made(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a field we would drop is refused, not ignored

    method: Method = Field(description="How it was made, as the directory lists ways to refer.")
    made_on: date | None = Field(
        default=None, description="The day it was made (London; default today); not later."
    )

    @field_validator("made_on", mode="before")
    @classmethod
    def _written_as_a_date(cls, value: object) -> object:
        # Pydantic's lax mode would read a number as seconds since 1970; the schema says a date.
        if isinstance(value, int | float):
            raise ValueError("made_on is a date, YYYY-MM-DD")
        return value


class ToDirectoryEntry(_Made):
    organisation_id: str = Field(
        pattern=ORGANISATION_ID, description="The organisation's directory entry id."
    )


class ToNamedOrganisation(_Made):
    organisation_name: str = Field(
        pattern=ORGANISATION_NAME,
        description="An organisation not in the directory: its short name (a capital or digit "
        "first; letters, digits, spaces and & ' ( ) , . / - only).",
    )


# One or the other, never both: each model refuses the other's field.
NewReferralBody = ToDirectoryEntry | ToNamedOrganisation


class OutcomeChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Literal["accepted", "waiting_list", "completed"]


class DeclineChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Literal["declined"]
    decline_reason: DeclineReason = Field(description="Why, from a fixed list: never free text.")


OutcomeBody = Annotated[OutcomeChange | DeclineChange, Field(discriminator="outcome")]


def add_referral_routes(
    app: FastAPI,
    deps: CaseworkDeps,
    viewer: Callable[..., Awaitable[Viewer]],
    visible_task: Callable[[str, Viewer], Awaitable[dict[str, Any]]],
) -> None:
    Staff = Annotated[Viewer, Depends(viewer)]
    no_task = problems({404: "No such task, or not the caller's to see"})

    @app.get("/v1/tasks/{task_id}/referrals", response_model=list[ReferralView], responses=no_task)
    async def task_referrals(task_id: str, staff: Staff) -> list[dict[str, Any]]:
        """The task's onward referrals, oldest first, each with its outcomes' history."""
        await visible_task(task_id, staff)
        return await referrals_of(deps.engine, task_id)

    @app.post(
        "/v1/tasks/{task_id}/referrals",
        response_model=ReferralView,
        status_code=201,
        responses={
            **no_task,
            **problems(
                {
                    409: "The task is not a need (e.g. first_contact): it takes no referral",
                    422: "The request is not valid (an unknown field, both or neither of "
                    "organisation_id and organisation_name, a name outside its pattern), "
                    "made_on is in the future, or organisation_id is no live directory entry",
                }
            ),
        },
    )
    async def new_referral(
        task_id: str, body: NewReferralBody, staff: Staff, response: Response
    ) -> dict[str, Any]:
        """Record an onward referral (outcome `made`) of a need task to a directory entry or a
        named organisation. Still `made` after the configured working days, it reminds the
        task's advisor once."""
        task = await visible_task(task_id, staff)
        today = deps.clock.now().astimezone(LONDON).date()
        made_on = body.made_on or today
        if made_on > today:
            raise HTTPException(422, "made_on may not be in the future")
        new = NewReferral(
            organisation_id=body.organisation_id if isinstance(body, ToDirectoryEntry) else None,
            organisation_name=(
                body.organisation_name if isinstance(body, ToNamedOrganisation) else None
            ),
            made_on=made_on,
            method=body.method,
        )
        try:
            return await make_referral(deps, task, new, staff.person_id)
        except OutcomeRefused as refused:
            raise HTTPException(409, str(refused)) from None
        except NotInDirectory:
            raise HTTPException(422, "organisation_id is no live directory entry") from None

    @app.post(
        "/v1/tasks/{task_id}/referrals/{referral_id}/outcome",
        response_model=ReferralView,
        responses={
            **problems(
                {
                    404: "No such task or referral, or not the caller's to see",
                    409: "The change is not allowed from the referral's outcome now, or the "
                    "outcome changed meanwhile",
                    422: "The request is not valid: an unknown field or outcome, or declined "
                    "without a decline_reason from the list",
                }
            ),
        },
    )
    async def change_outcome(
        task_id: str, referral_id: str, body: OutcomeBody, staff: Staff
    ) -> dict[str, Any]:
        """made → accepted | declined | waiting_list; waiting_list → accepted | declined;
        accepted → completed | declined; declined and completed are final. A decline takes a
        decline_reason from the list. Each change is kept with who and when, and published as
        ReferralOutcomeRecordedV1."""
        await visible_task(task_id, staff)
        reason = body.decline_reason if isinstance(body, DeclineChange) else None
        try:
            return await record_outcome(
                deps, task_id, referral_id, Outcome(body.outcome), reason, staff.person_id
            )
        except OutcomeRefused as refused:
            raise HTTPException(409, str(refused)) from None
        except ReferralNotFound:
            raise HTTPException(404, "no such referral") from None
