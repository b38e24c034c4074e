"""The console's pure helpers for the directory, criminal-justice support and calendar import
pages: a form to casework's body, casework's real validation errors back to the form's fields in
plain words, how-to-refer links, the states offered from each state, a typed UK time to an
instant, and an import's counts in words."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from services.casework.directory import EntryBody
from services.console.calendar_import import summary_lines
from services.console.criminal_justice import london_moment, may_book, next_states, plain_refusal
from services.console.directory import entry_body, entry_form, field_errors, refer_href, words
from shared.redaction import error_path


def posted(**changes: Any) -> dict[str, Any]:
    values = {
        "id": "legal-clinic", "name": "Legal Clinic", "needs": ["legal_advice"],
        "districts": ["all"], "eligibility": "", "opening_hours": "", "review_date": "2027-03-31",
        "routes": [
            {"method": "phone", "contact": "", "notes": ""},
            {"method": "phone", "contact": "01632 960999", "notes": "Mornings"},
            {"method": "email", "contact": "refer@clinic.example", "notes": ""},
        ],
    }  # fmt: skip
    return values | changes


def casework_errors(body: dict[str, Any]) -> list[dict[str, str]]:
    """What casework's 422 problem lists for `body`: its own model's errors, located as
    shared/problems.py writes them (body.<path>)."""
    with pytest.raises(ValidationError) as refused:
        EntryBody.model_validate(body)
    return [
        {"location": f"body.{error_path(item)}", "message": item["msg"], "type": item["type"]}
        for item in refused.value.errors(include_input=False, include_url=False)
    ]


def test_the_form_becomes_the_body_casework_accepts_leaving_out_empty_rows() -> None:
    body, rows = entry_body(posted())
    assert body == {
        "name": "Legal Clinic", "needs": ["legal_advice"], "districts": ["all"],
        "how_to_refer": [
            {"method": "phone", "contact": "01632 960999", "notes": "Mornings"},
            {"method": "email", "contact": "refer@clinic.example"},
        ],
        "eligibility": None, "opening_hours": None, "review_date": "2027-03-31",
    }  # fmt: skip
    assert rows == [1, 2]
    EntryBody.model_validate(body)  # casework's own model takes it


def test_an_entry_fills_the_form_with_a_spare_row() -> None:
    entry = {"id": "x1", "name": "X", "needs": ["housing"], "districts": ["norwich"],
             "how_to_refer": [{"method": "email", "contact": "a@b.example", "notes": None}] * 3,
             "eligibility": None, "opening_hours": "9-5", "review_date": "2027-01-01"}  # fmt: skip
    form = entry_form(entry)
    assert len(form["routes"]) == 4
    assert form["routes"][3]["contact"] == ""
    assert (form["eligibility"], form["opening_hours"]) == ("", "9-5")
    assert len(entry_form(None)["routes"]) == 3


def test_casework_errors_land_beside_the_form_fields_they_concern_in_plain_words() -> None:
    values = posted(
        name="", needs=[], districts=["all", "norwich"], review_date="2027-02-30",
        routes=[{"method": "phone", "contact": "", "notes": ""},
                {"method": "phone", "contact": "ring us", "notes": ""},
                {"method": "online_form", "contact": "http://clinic.example", "notes": ""}],
    )  # fmt: skip
    body, rows = entry_body(values)
    found = field_errors(casework_errors(body), rows)
    assert found == {
        "name": "Enter the organisation's name.",
        "needs": "Choose at least one need the organisation meets.",
        "districts": "Choose All districts on its own: it already covers every district.",
        # The API's index 0 and 1 are the form's rows 1 and 2 (row 0 was empty).
        "route-1-contact": "A phone contact is a number: digits and spaces, optional leading +.",
        "route-2-contact": "An online_form contact is an https:// URL.",
        "review_date": "Enter the date the entry should next be reviewed, as a real date.",
    }


def test_no_way_to_refer_and_no_review_date_are_asked_for() -> None:
    values = posted(review_date="", routes=[{"method": "phone", "contact": "", "notes": ""}])
    body, rows = entry_body(values)
    found = field_errors(casework_errors(body), rows)
    assert found == {
        "route-0-contact": "Give at least one way to refer: a phone number, e-mail address or form.",
        "review_date": "Enter the date the entry should next be reviewed, as a real date.",
    }
    assert field_errors([{"location": "path.entry_id", "message": "x", "type": "string_pattern_mismatch"}], [])[
        "entry_id"
    ].startswith("Use 2 to 64 lower-case letters")  # fmt: skip


def test_links_are_made_only_from_contacts_that_look_like_their_kind() -> None:
    assert refer_href({"method": "phone", "contact": "+44 1632 960999"}) == "tel:+441632960999"
    assert refer_href({"method": "email", "contact": "a@b.example"}) == "mailto:a@b.example"
    form = "https://clinic.example/refer?x=1"
    assert refer_href({"method": "online_form", "contact": form}) == form
    assert refer_href({"method": "online_form", "contact": "javascript:alert(1)"}) is None
    assert refer_href({"method": "phone", "contact": "javascript:alert(1)"}) is None
    assert refer_href({"method": "self_referral", "contact": "Walk in"}) is None
    assert words("explain_nrm_and_record_consent") == "Explain NRM and record consent"
    assert words("kings_lynn_west_norfolk") == "King's Lynn and West Norfolk"
    assert words("all") == "All districts"


@pytest.mark.parametrize(
    ("state", "offered", "booking"),
    [
        ("not_yet_asked", ["willing_to_give_account", "declined"], False),
        ("willing_to_give_account", ["declined", "account_given"], True),
        ("declined", ["willing_to_give_account"], False),
        ("account_given", [], True),
        ("support_booked", ["willing_to_give_account", "declined", "account_given"], True),
        ("nonsense", [], False),
    ],
)
def test_only_the_allowed_changes_are_offered(
    state: str, offered: list[str], booking: bool
) -> None:
    # The table in services/casework/criminal_justice.py's docstring, written out here.
    assert next_states(state) == offered
    assert may_book(state) is booking


def test_a_typed_uk_time_is_the_london_instant() -> None:
    summer = london_moment("2027-06-16T10:30")
    assert summer is not None
    assert summer.astimezone(UTC) == datetime(2027, 6, 16, 9, 30, tzinfo=UTC)
    winter = london_moment("2027-01-16T10:30")
    assert winter is not None
    assert winter.astimezone(UTC) == datetime(2027, 1, 16, 10, 30, tzinfo=UTC)
    assert london_moment("") is None
    assert london_moment("2027-06-16") is None
    assert london_moment("2027-06-16T10:30+02:00") is None
    assert plain_refusal("an engagement that is declined cannot become account_given") == (
        "An engagement that is declined cannot become account given"
    )


def test_an_import_is_summed_up_in_words() -> None:
    dry = {"dry_run": True, "added": 2, "updated": 0, "removed": 1, "unchanged": 0, "ignored": 1,
           "kept_removed": 0}  # fmt: skip
    assert summary_lines(dry) == [
        "2 leave or cover entries would be added.",
        "1 leave or cover entry would be removed (cancelled or deleted).",
        "1 event not leave or cover (title starts with neither), ignored.",
    ]
    applied = {"dry_run": False, "added": 1, "updated": 0, "removed": 0, "unchanged": 3,
               "ignored": 0, "kept_removed": 0}  # fmt: skip
    assert summary_lines(applied) == [
        "1 leave or cover entry was added.",
        "3 events already on the rota as the calendar says.",
    ]
    assert summary_lines({"dry_run": True}) == ["Nothing on the rota would change."]
