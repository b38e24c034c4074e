"""Two read-only staff endpoints beside the console's (services/notifier/console_api.py): the
rota's people, so the console can offer them in its forms, and the alerting figures for the head
of service's report. Staff person ids and roles only; no channel address ever leaves here."""

from typing import Annotated, Any

from fastapi import Depends, FastAPI
from pydantic import BaseModel

from services.notifier.deps import NotifierDeps
from services.notifier.figures import alert_figures
from shared.staff_auth import Staff, StaffAuth, StaffRole


class PersonView(BaseModel):
    id: str
    role: str


class People(BaseModel):
    people: list[PersonView]
    last_resort: str


def add_figure_routes(app: FastAPI, deps: NotifierDeps, staff_auth: StaffAuth) -> None:
    staff = staff_auth.require(
        StaffRole.ADVISOR, StaffRole.HEAD_OF_SERVICE, StaffRole.MEETING_COORDINATOR
    )
    head = staff_auth.require(StaffRole.HEAD_OF_SERVICE)

    @app.get("/v1/rota/people", response_model=People, summary="The rota's people and roles")
    async def people(who: Annotated[Staff, Depends(staff)]) -> People:
        rota = deps.rota
        return People(
            people=[PersonView(id=person.id, role=person.role.value) for person in rota.people],
            last_resort=rota.last_resort,
        )

    @app.get("/v1/figures", summary="Alerts acknowledged within target, by urgency")
    async def figures(who: Annotated[Staff, Depends(head)]) -> dict[str, Any]:
        """The target is acknowledgement before the policy's second escalation step."""
        return {"by_urgency": await alert_figures(deps.engine, deps.policy)}
