"""Casework's criminal-justice support endpoints, added to its HTTP app (services/casework/http.py):
a case's engagement with the investigation, read and changed by staff. The body has no free-text
field, and extra fields are refused: nothing of what the person said can be sent here.

No `from __future__ import annotations` here, for the same reason as services/casework/http.py:
FastAPI must see the dependency aliases as objects."""

from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from services.casework.criminal_justice import (
    Booking,
    BookingKind,
    Engagement,
    EngagementPolicy,
    EngagementRefused,
)
from services.casework.criminal_justice_records import (
    CaseNotFound,
    case_visible,
    engagement_of,
    record_engagement,
)
from services.casework.handlers import CaseworkDeps
from services.casework.queries import Viewer
from shared.api_times import UtcTimestamp
from shared.problems import problems
from shared.rota import Role
from shared.staff_auth import Staff as SignedIn
from shared.staff_auth import StaffAuth, StaffRole


class BookingView(BaseModel):
    booking_id: str = Field(description="A new id for each booking: its reminders are its own.")
    kind: BookingKind
    booked_at: UtcTimestamp


class EngagementChangeView(BaseModel):
    at: UtcTimestamp
    actor: str = Field(description="Staff id of whoever recorded the change.")
    from_state: Engagement
    to_state: Engagement
    booking_id: str | None
    booking_kind: BookingKind | None
    booked_at: UtcTimestamp | None


class EngagementView(BaseModel):
    case_reference: str
    state: Engagement
    booking: BookingView | None = Field(description="Present while support is booked.")
    updated_at: UtcTimestamp | None
    updated_by: str | None
    history: list[EngagementChangeView] = Field(description="Every change, oldest first.")


# No free-text field, and any other field is refused: never any content of what was said. One
# model per kind of change, so the published schema says that a booking (and only a booking)
# carries booked_at and kind: a discriminated union on `state`.
class StateChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: Literal["not_yet_asked", "willing_to_give_account", "declined", "account_given"]


class BookingChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: Literal["support_booked"]
    booked_at: UtcTimestamp = Field(
        description="When the interview or hearing is (with an offset), still to come."
    )
    kind: BookingKind


EngagementChange = Annotated[StateChange | BookingChange, Field(discriminator="state")]


def add_criminal_justice_routes(
    app: FastAPI, deps: CaseworkDeps, policy: EngagementPolicy, staff_auth: StaffAuth
) -> None:
    signed_in = staff_auth.require(StaffRole.ADVISOR, StaffRole.HEAD_OF_SERVICE)

    async def viewer(who: Annotated[SignedIn, Depends(signed_in)]) -> Viewer:
        head = StaffRole.HEAD_OF_SERVICE in who.roles
        return Viewer(who.person_id, Role.HEAD_OF_SERVICE if head else Role.ADVISOR)

    Staff = Annotated[Viewer, Depends(viewer)]

    async def visible_case(case_reference: str, staff: Viewer) -> None:
        # Another advisor's case is "no such case", as their tasks are "no such task".
        if not await case_visible(deps.engine, staff, case_reference):
            raise HTTPException(404, "no such case")

    no_case = problems({404: "No such case, or not the caller's to see"})

    @app.get(
        "/v1/cases/{case_reference}/criminal-justice",
        response_model=EngagementView,
        responses=no_case,
    )
    async def engagement(case_reference: str, staff: Staff) -> dict[str, Any]:
        """The person's engagement with the investigation (not_yet_asked until recorded), the
        booked interview or court date while support is booked, and who changed it when. Never
        any content of what was said."""
        await visible_case(case_reference, staff)
        return await engagement_of(deps.engine, case_reference)

    @app.post(
        "/v1/cases/{case_reference}/criminal-justice",
        response_model=EngagementView,
        responses={
            **no_case,
            **problems(
                {
                    422: "The request is not valid: an unknown field, a state that is not one, "
                    "a time without an offset, or support_booked without booked_at and kind",
                    409: "The change is not allowed from the case's engagement now, a booking "
                    "is missing or in the past, or the engagement changed meanwhile",
                }
            ),
        },
    )
    async def change_engagement(
        case_reference: str, body: EngagementChange, staff: Staff
    ) -> dict[str, Any]:
        """not_yet_asked → willing_to_give_account | declined; willing → declined | account_given
        | support_booked (booked_at, kind: interview or court); declined → willing;
        account_given → support_booked; support_booked → support_booked (rebooked) | willing |
        declined | account_given. Entering a state may open a task (configured, with a
        deadline); a booking reminds the case's advisor before its date."""
        await visible_case(case_reference, staff)
        booking = Booking(body.kind, body.booked_at) if isinstance(body, BookingChange) else None
        try:
            return await record_engagement(
                deps, policy, case_reference, Engagement(body.state), booking, staff.person_id
            )
        except EngagementRefused as refused:
            raise HTTPException(409, str(refused)) from None
        except CaseNotFound:
            raise HTTPException(404, "no such case") from None
