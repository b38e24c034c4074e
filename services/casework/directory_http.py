"""The directory's HTTP routes, added to casework's app by services/casework/http.py.

Reads (the directory, an entry, a task's suggestions): advisors and the head of service, as every
casework read. Writes (PUT, DELETE): the head of service only. The directory is shared reference
data every advisor's suggestions come from, and a wrong phone number sends a frightened person to
the wrong place; casework already keeps such cross-case powers (reassigning anyone's task) to the
head of service. An advisor who finds a mistake tells the head of service.

A task's suggestions follow the task's visibility: another advisor's task is a 404, as everywhere.

No `from __future__ import annotations`: FastAPI must see the dependency aliases as objects."""

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Path, Response
from pydantic import BaseModel, Field

from services.casework.directory import (
    NEED_KINDS,
    Coverage,
    EntryBody,
    NeedKind,
    ReferralRoute,
)
from services.casework.directory_store import (
    case_district,
    get_entry,
    list_entries,
    put_entry,
    retire_entry,
    suggest,
)
from services.casework.handlers import CaseworkDeps
from services.casework.queries import Viewer
from shared.api_times import UtcTimestamp
from shared.clock import LONDON
from shared.events import District
from shared.problems import problems
from shared.staff_auth import Staff as SignedIn
from shared.staff_auth import StaffAuth, StaffRole

ENTRY_ID = Path(
    pattern=r"^[a-z0-9][a-z0-9-]{1,63}$",
    description="The entry's slug: lower-case letters, digits and hyphens.",
)


class DirectoryEntryView(BaseModel):
    id: str
    name: str
    needs: list[NeedKind]
    districts: list[Coverage]
    how_to_refer: list[ReferralRoute]
    eligibility: str | None
    opening_hours: str | None
    review_date: date
    review_overdue: bool = Field(
        description="The review date has passed (today in London is later than it)."
    )
    updated_at: UtcTimestamp
    updated_by: str = Field(description='A staff person id, or "directory-file" if seeded.')
    retired_at: UtcTimestamp | None = Field(description="Retired: no longer listed or suggested.")


class TaskSuggestions(BaseModel):
    task_id: str
    kind: str
    district: District | None = Field(
        description="The case's district; null for a case opened before districts were kept."
    )
    matched_on: Literal["district", "all_only", "not_a_need"] = Field(
        description='district: organisations covering the case\'s district or "all"; '
        'all_only: the district is unknown, so only those covering "all"; not_a_need: the '
        "task's kind is not a need the directory lists (e.g. first_contact)."
    )
    note: str | None = Field(description="Why the list may be shorter than usual.")
    organisations: list[DirectoryEntryView] = Field(
        description="By name; review_overdue flags an entry to check before referring."
    )


def add_directory_routes(
    app: FastAPI,
    deps: CaseworkDeps,
    staff_auth: StaffAuth,
    viewer: Callable[..., Awaitable[Viewer]],
    visible_task: Callable[[str, Viewer], Awaitable[dict[str, Any]]],
) -> None:
    Staff = Annotated[Viewer, Depends(viewer)]
    HeadOfService = Annotated[SignedIn, Depends(staff_auth.require(StaffRole.HEAD_OF_SERVICE))]

    def today() -> date:
        return deps.clock.now().astimezone(LONDON).date()

    no_entry = problems({404: "No such directory entry"})

    @app.get("/v1/directory", response_model=list[DirectoryEntryView])
    async def directory(
        staff: Staff,
        need: NeedKind | None = None,
        district: District | None = None,
        include_retired: bool = False,
    ) -> list[dict[str, Any]]:
        """The directory of local services, by name: filtered by the need met and the district
        covered (an organisation covering "all" covers every district)."""
        return await list_entries(deps.engine, today(), need, district, include_retired)

    @app.get("/v1/directory/{entry_id}", response_model=DirectoryEntryView, responses=no_entry)
    async def directory_entry(staff: Staff, entry_id: Annotated[str, ENTRY_ID]) -> dict[str, Any]:
        """One entry, retired or not."""
        found = await get_entry(deps.engine, entry_id, today())
        if found is None:
            raise HTTPException(404, "no such directory entry")
        return found

    @app.put(
        "/v1/directory/{entry_id}",
        response_model=DirectoryEntryView,
        responses={
            201: {"description": "Created", "model": DirectoryEntryView},
            **problems({403: '"not permitted": only the head of service edits the directory'}),
        },
    )
    async def save_directory_entry(
        entry_id: Annotated[str, ENTRY_ID],
        body: EntryBody,
        who: HeadOfService,
        response: Response,
    ) -> dict[str, Any]:
        """Creates (201) or replaces (200) the entry with the body, whole. Replacing a retired
        entry reinstates it. Head of service only."""
        saved, created = await put_entry(
            deps.engine, entry_id, body, who.person_id, deps.clock.now(), today()
        )
        response.status_code = 201 if created else 200
        return saved

    @app.delete(
        "/v1/directory/{entry_id}",
        status_code=204,
        responses={
            **no_entry,
            **problems({403: '"not permitted": only the head of service edits the directory'}),
        },
    )
    async def retire_directory_entry(
        entry_id: Annotated[str, ENTRY_ID], who: HeadOfService
    ) -> Response:
        """Retires the entry: kept (a task's history may name it) but no longer listed or
        suggested; PUT reinstates it. Retiring a retired entry is a no-op. Head of service only."""
        if not await retire_entry(deps.engine, entry_id, who.person_id, deps.clock.now()):
            raise HTTPException(404, "no such directory entry")
        return Response(status_code=204)

    @app.get(
        "/v1/tasks/{task_id}/suggestions",
        response_model=TaskSuggestions,
        responses=problems({404: "No such task, or not the caller's to see"}),
    )
    async def task_suggestions(task_id: str, staff: Staff) -> dict[str, Any]:
        """The organisations meeting the task's need in its case's district, by name, each with
        its review flag. A case from before districts were kept gets those covering "all"."""
        task = await visible_task(task_id, staff)
        base = {"task_id": task_id, "kind": task["kind"]}
        district = await case_district(deps.engine, task["case_reference"])
        if task["kind"] not in NEED_KINDS:
            return {**base, "district": district, "matched_on": "not_a_need",
                    "note": "this task is not an onward referral need", "organisations": []}  # fmt: skip
        found = await suggest(deps.engine, task["kind"], district, today())
        if district is None:
            return {**base, "district": None, "matched_on": "all_only", "organisations": found,
                    "note": "the case's district is not recorded (opened before districts were "
                    'kept): only organisations covering "all" are suggested'}  # fmt: skip
        return {**base, "district": district, "matched_on": "district", "note": None,
                "organisations": found}  # fmt: skip
