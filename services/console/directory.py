"""The directory of local services: a list of organisations for advisors and the head of service,
filtered by the need met and the district covered, each flagged when its review date has passed;
and, for the head of service only, a form to add or edit an entry and a button to retire one.

Every read and write is casework's API (GET/PUT/DELETE /v1/directory), which decides who may
change the directory (the head of service) and what an entry must hold; its refusals are shown
beside the fields they concern, in plain words. The pure helpers below (a form to the API's body,
the API's field errors to the form's fields, how-to-refer links) have unit tests."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, get_args

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from services.casework.directory import NeedKind
from services.console.backends import BackendError
from services.console.sessions import Session
from services.console.web import TEMPLATES, CsrfChecked, console_of, render, require, see_other
from shared.events import District
from shared.staff_auth import StaffRole

router = APIRouter()
Caseworker = Depends(require(StaffRole.ADVISOR, StaffRole.HEAD_OF_SERVICE))
Head = Depends(require(StaffRole.HEAD_OF_SERVICE))

ENTRY_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,63}$")
NEEDS: tuple[str, ...] = get_args(NeedKind)
DISTRICTS: tuple[str, ...] = tuple(district.value for district in District)
ALL = "all"
METHODS = ("phone", "email", "online_form", "self_referral")
SPARE_ROUTES = 1  # empty "way to refer" rows offered below an entry's own
MIN_ROUTES = 3

_DISTRICT_LABELS = {"kings_lynn_west_norfolk": "King's Lynn and West Norfolk", ALL: "All districts"}
_METHOD_LABELS = {"phone": "Phone", "email": "E-mail", "online_form": "Online form",
                  "self_referral": "Self-referral"}  # fmt: skip
_FIELD_NAMES = {"name": "name", "needs": "needs", "districts": "districts",
                "eligibility": "eligibility", "opening_hours": "opening_hours",
                "review_date": "review_date", "how_to_refer": "route-0-contact"}  # fmt: skip


def words(value: str) -> str:
    """A need kind or district as people write it: "explain_nrm_and_record_consent" →
    "Explain NRM and record consent"."""
    if value in _DISTRICT_LABELS:
        return _DISTRICT_LABELS[value]
    text = value.replace("_", " ")
    text = re.sub(r"\bnrm\b", "NRM", text)
    return text[:1].upper() + text[1:]


def method_label(method: str) -> str:
    return _METHOD_LABELS.get(method, words(method))


def refer_href(route: Mapping[str, Any]) -> str | None:
    """The link a way to refer opens: tel: for a phone number, mailto: for an address, the form's
    own https URL; None for a self-referral (its contact is a sentence) or anything unexpected (a
    link is never made from a value that does not look like its kind)."""
    method, contact = route.get("method"), str(route.get("contact") or "")
    if method == "phone" and re.fullmatch(r"\+?[0-9][0-9 ]{5,19}", contact):
        return "tel:" + contact.replace(" ", "")
    if method == "email" and re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", contact):
        return f"mailto:{contact}"
    if method == "online_form" and re.fullmatch(r"https://\S+", contact):
        return contact
    return None


TEMPLATES.env.globals["refer_href"] = refer_href
TEMPLATES.env.globals["method_label"] = method_label
TEMPLATES.env.filters["words"] = words


def entry_form(entry: Mapping[str, Any] | None) -> dict[str, Any]:
    """An entry (from the API) as the form's values; a blank form for a new entry."""
    entry = entry or {}
    routes = [
        {"method": r.get("method", "phone"), "contact": r.get("contact", ""),
         "notes": r.get("notes") or ""}
        for r in entry.get("how_to_refer", [])
    ]  # fmt: skip
    rows = max(MIN_ROUTES, len(routes) + SPARE_ROUTES)
    routes += [{"method": "phone", "contact": "", "notes": ""}] * (rows - len(routes))
    return {
        "id": entry.get("id", ""),
        "name": entry.get("name", ""),
        "needs": list(entry.get("needs", [])),
        "districts": list(entry.get("districts", [])),
        "routes": routes,
        "eligibility": entry.get("eligibility") or "",
        "opening_hours": entry.get("opening_hours") or "",
        "review_date": entry.get("review_date", ""),
    }


def form_values(form: Mapping[str, Any], getlist: Any) -> dict[str, Any]:
    """The posted form as entry_form's values (what the person typed, to show again)."""
    rows = 0
    while f"route-{rows}-method" in form and rows < 20:
        rows += 1
    routes = [
        {key: str(form.get(f"route-{row}-{key}", "")).strip()
         for key in ("method", "contact", "notes")}
        for row in range(rows)
    ]  # fmt: skip
    return {
        "id": str(form.get("id", "")).strip(),
        "name": str(form.get("name", "")).strip(),
        "needs": [str(value) for value in getlist("needs")],
        "districts": [str(value) for value in getlist("districts")],
        "routes": routes,
        "eligibility": str(form.get("eligibility", "")).strip(),
        "opening_hours": str(form.get("opening_hours", "")).strip(),
        "review_date": str(form.get("review_date", "")).strip(),
    }


def entry_body(values: Mapping[str, Any]) -> tuple[dict[str, Any], list[int]]:
    """The PUT body from the form's values, and for each way to refer sent, the form row it came
    from (a row with no contact is left out, so the API's index is not the row's)."""
    routes, rows = [], []
    for row, route in enumerate(values["routes"]):
        if not route["contact"]:
            continue
        sent = {"method": route["method"], "contact": route["contact"]}
        if route["notes"]:
            sent["notes"] = route["notes"]
        routes.append(sent)
        rows.append(row)
    body: dict[str, Any] = {
        "name": values["name"],
        "needs": values["needs"],
        "districts": values["districts"],
        "how_to_refer": routes,
        "eligibility": values["eligibility"] or None,
        "opening_hours": values["opening_hours"] or None,
    }
    if values["review_date"]:  # left out, the API says it is missing
        body["review_date"] = values["review_date"]
    return body, rows


def _plain(field: str, error: Mapping[str, str]) -> str:
    kind, message = error.get("type", ""), error.get("message", "")
    missing = kind in ("missing", "too_short", "string_too_short")
    if field == "entry_id":
        return ("Use 2 to 64 lower-case letters, digits and hyphens, starting with a letter or "
                "digit.")  # fmt: skip
    if field == "name" and missing:
        return "Enter the organisation's name."
    if field == "needs" and missing:
        return "Choose at least one need the organisation meets."
    if field == "districts":
        if missing:
            return "Choose the districts it covers, or All districts."
        if "stands alone" in message:
            return "Choose All districts on its own: it already covers every district."
    if field == "review_date":
        return "Enter the date the entry should next be reviewed, as a real date."
    if field.startswith("route-"):
        if field.endswith("-method"):
            return "Choose how to refer."
        if kind == "too_short" and field == "route-0-contact":
            return "Give at least one way to refer: a phone number, e-mail address or form."
    if kind == "string_too_long":
        return re.sub(r"^String should have at most", "Use at most", message) + "."
    text = re.sub(r"^Value error, ", "", message)
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def field_errors(errors: Sequence[Mapping[str, str]], rows: list[int]) -> dict[str, str]:
    """casework's 422 errors (location, message, type) as the form field each concerns (its id)
    and a plain message; an error of no field the form has goes under "" (the summary only)."""
    found: dict[str, str] = {}
    for error in errors:
        parts = error.get("location", "").split(".")
        where, parts = parts[0], parts[1:]
        field = ""
        if where == "path" and parts == ["entry_id"]:
            field = "entry_id"
        elif where == "body" and parts:
            field = _FIELD_NAMES.get(parts[0], "")
            if parts[0] == "how_to_refer" and len(parts) > 1 and parts[1].isdigit():
                sent = int(parts[1])
                row = rows[sent] if sent < len(rows) else 0
                part = parts[-1] if parts[-1] in ("method", "notes") else "contact"
                field = f"route-{row}-{part}"
        found.setdefault(field, _plain(field, error))
    return found


@router.get("/directory")
async def directory(
    request: Request, need: str = "", district: str = "", retired: str = "",
    session: Session = Caseworker,
) -> Response:  # fmt: skip
    head = session.has(StaffRole.HEAD_OF_SERVICE)
    params: dict[str, str] = {}
    if need in NEEDS:
        params["need"] = need
    if district in DISTRICTS:
        params["district"] = district
    if head and retired == "yes":
        params["include_retired"] = "true"
    entries = await console_of(request).backends.get(
        "casework", "/v1/directory", session.access_token, params
    )
    return render(
        request,
        "directory.html",
        {"title": "Directory of local services", "entries": entries, "needs": NEEDS,
         "districts": DISTRICTS, "need": params.get("need", ""),
         "district": params.get("district", ""), "retired": "include_retired" in params,
         "may_edit": head},
    )  # fmt: skip


def _form_page(
    request: Request, values: dict[str, Any], *, new: bool, errors: dict[str, str] | None = None,
    retired: bool = False, status: int = 200,
) -> Response:  # fmt: skip
    title = "Add a directory entry" if new else f"Edit {values['name'] or values['id']}"
    return render(
        request,
        "directory_entry.html",
        {"title": title, "form": values, "new": new, "errors": errors or {}, "needs": NEEDS,
         "districts": (*DISTRICTS, ALL), "methods": METHODS, "retired": retired},
        status,
    )  # fmt: skip


@router.get("/directory/new")
async def new_entry(request: Request, session: Session = Head) -> Response:
    return _form_page(request, entry_form(None), new=True)


async def _entry(request: Request, session: Session, entry_id: str) -> dict[str, Any]:
    if not ENTRY_ID.fullmatch(entry_id):  # never a path of another API
        raise BackendError("casework", 404, "No such directory entry.")
    found: dict[str, Any] = await console_of(request).backends.get(
        "casework", f"/v1/directory/{entry_id}", session.access_token
    )
    return found


@router.get("/directory/{entry_id}/edit")
async def edit_entry(request: Request, entry_id: str, session: Session = Head) -> Response:
    entry = await _entry(request, session, entry_id)
    return _form_page(
        request, entry_form(entry), new=False, retired=entry.get("retired_at") is not None
    )


async def _save(request: Request, session: Session, *, new: bool, entry_id: str) -> Response:
    form = await request.form()
    values = form_values(form, form.getlist)
    backends = console_of(request).backends
    if new:
        entry_id = values["id"]
        if not ENTRY_ID.fullmatch(entry_id):
            errors = {"entry_id": _plain("entry_id", {})}
            return _form_page(request, values, new=True, errors=errors, status=422)
        try:
            await backends.get("casework", f"/v1/directory/{entry_id}", session.access_token)
        except BackendError as absent:
            if absent.status != 404:
                raise
        else:
            errors = {"entry_id": "An entry with this id exists already: edit it instead, or "
                      "choose another id."}  # fmt: skip
            return _form_page(request, values, new=True, errors=errors, status=409)
    else:
        values["id"] = entry_id
    body, rows = entry_body(values)
    try:
        await backends.put("casework", f"/v1/directory/{entry_id}", session.access_token, body)
    except BackendError as refused:
        if refused.status != 422:
            raise
        errors = field_errors(refused.errors, rows) or {"": refused.message}
        return _form_page(request, values, new=new, errors=errors, status=422)
    session.flash.append(f"{'Added' if new else 'Saved'}: {values['name']}.")
    return see_other(request, "/directory")


@router.post("/directory/new", dependencies=[CsrfChecked])
async def add_entry(request: Request, session: Session = Head) -> Response:
    return await _save(request, session, new=True, entry_id="")


@router.post("/directory/{entry_id}/edit", dependencies=[CsrfChecked])
async def save_entry(request: Request, entry_id: str, session: Session = Head) -> Response:
    await _entry(request, session, entry_id)  # a 404 page for an id that is not there
    return await _save(request, session, new=False, entry_id=entry_id)


@router.post("/directory/{entry_id}/retire", dependencies=[CsrfChecked])
async def retire_entry(request: Request, entry_id: str, session: Session = Head) -> Response:
    entry = await _entry(request, session, entry_id)
    await console_of(request).backends.delete(
        "casework", f"/v1/directory/{entry_id}", session.access_token
    )
    session.flash.append(f"Retired: {entry['name']}. Edit and save it to list it again.")
    return see_other(request, "/directory")
