"""What the minutes API accepts: organisations and roles as short names in any European script,
one-line decisions and actions of at most 500 characters, no control characters, each organisation
listed once, each item once, and an action due between its meeting and a year after it."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from services.meeting_scheduler.minutes import due_in_range
from services.meeting_scheduler.minutes_api import (
    ActionBody,
    AttendanceBody,
    ItemMinutesBody,
    MinutesBody,
)

ACTION = {"text": "Refer to safe accommodation", "owner": "The Salvation Army", "due": "2026-12-08"}


@pytest.mark.parametrize(
    "name",
    [
        "Norfolk Constabulary",
        "Norfolk County Council Children's Services (MASH)",
        "NHS Norfolk & Waveney ICB",
        "Łódź City Council",
        "Ștefan cel Mare Foundation",
        "Gangmasters and Labour Abuse Authority (GLAA)",
        "Housing/Homelessness team, Breckland",
        "Duty officer - night",
        "Modern Slavery Advisor’s team",
        "X" * 120,
    ],
)
def test_organisations_and_roles_as_written(name: str) -> None:
    assert AttendanceBody(present=[name]).present == [name]


@pytest.mark.parametrize(
    "name",
    [
        "",
        "A",
        "X" * 121,
        "Police\nSecond line",
        "Police\tTabbed",
        "<script>alert(1)</script>",
        "Police; then a sentence: with colons",
        "-leading dash",
        "Question?",
        'Quoted "name"',
        "Email@example.org",
    ],
)
def test_no_free_text_in_attendance(name: str) -> None:
    with pytest.raises(ValidationError):
        AttendanceBody(apologies=[name])


@pytest.mark.parametrize("name", [" Norfolk Constabulary", "Norfolk Constabulary ", "  "])
def test_no_spaces_at_either_end(name: str) -> None:
    # Kept as sent, never trimmed: a trimmed value would accept what the published pattern refuses.
    with pytest.raises(ValidationError):
        AttendanceBody(present=[name])


@pytest.mark.parametrize(
    "body",
    [
        {"present": ["Norfolk Constabulary", "Norfolk Constabulary"]},
        {"present": ["Norfolk Constabulary"], "apologies": ["NORFOLK CONSTABULARY"]},
        {"present": [f"Organisation {n}" for n in range(61)]},
        {"present": [], "guests": ["Anyone"]},
    ],
)
def test_each_organisation_once_and_a_bounded_register(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        AttendanceBody(**body)


def test_an_empty_register_is_allowed() -> None:
    assert AttendanceBody() == AttendanceBody(present=[], apologies=[])


@pytest.mark.parametrize(
    "text",
    [
        "Agreed: refer to the NRM single competent authority",
        "Zgoda — skierować do Łódź; próba «Ő»",
        "x" * 500,
    ],
)
def test_one_line_texts(text: str) -> None:
    assert ItemMinutesBody(decision=text).decision == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "ok",
        "x" * 501,
        "two\nlines",
        "nul\x00",
        "bell\x07",
        "del\x7f",
        "c1\x85",
        "ls\u2028x",
        " leading space",
        "trailing space ",
        "trailing newline\n",
    ],
)
def test_refused_texts(text: str) -> None:
    with pytest.raises(ValidationError):
        ItemMinutesBody(decision=text)
    with pytest.raises(ValidationError):
        ActionBody(**{**ACTION, "text": text})


def test_an_item_needs_a_decision_or_an_action() -> None:
    with pytest.raises(ValidationError):
        ItemMinutesBody(case_reference="MS-2026-ABC123")
    only_action = ItemMinutesBody.model_validate({"actions": [ACTION]})
    assert only_action.command().actions[0].owner == "The Salvation Army"
    assert only_action.command().actions[0].due == date(2026, 12, 8)


@pytest.mark.parametrize("reference", ["MS-26-ABC", "ms-2026-abc", "MS-2026-ABC DROP", "X" * 40])
def test_case_references_are_references(reference: str) -> None:
    with pytest.raises(ValidationError):
        ItemMinutesBody(case_reference=reference, decision="Agreed")


@pytest.mark.parametrize(
    "items",
    [
        [],
        [{"decision": "Agreed"}, {"decision": "Again"}],
        [{"case_reference": "MS-2026-A1", "decision": "Agreed"},
         {"case_reference": "MS-2026-A1", "decision": "Again"}],
        [{"case_reference": f"MS-2026-A{n}", "decision": "Agreed"} for n in range(101)],
        [{"decision": "Agreed", "actions": [ACTION] * 21}],
        [{"decision": "Agreed", "actions": [{**ACTION, "colour": "red"}]}],
    ],
)  # fmt: skip
def test_minutes_bodies_refused(items: list[dict[str, Any]]) -> None:
    with pytest.raises(ValidationError):
        MinutesBody.model_validate({"items": items})


def test_due_dates_from_the_meeting_to_a_year_after() -> None:
    meeting = date(2026, 12, 2)
    assert due_in_range(meeting, date(2026, 12, 2))
    assert due_in_range(meeting, date(2027, 12, 3))  # 366 days
    assert not due_in_range(meeting, date(2026, 12, 1))
    assert not due_in_range(meeting, date(2027, 12, 4))


ORGANISATIONS = ["Norfolk Constabulary", "Łódź City Council", "Police\nx", " Police", "A", "(GLAA)"]
TEXTS = ["Agreed: refer", "Zgoda — Łódź", "bell\x07", "two\nlines", " lead", "trail ", "x" * 501]


def test_the_published_patterns_say_what_the_service_accepts() -> None:
    """The OpenAPI document publishes each field's pattern and lengths; a client validating with
    them (Python's `re` here, as schemathesis does) must reach the service's verdict."""
    schema = MinutesBody.model_json_schema()["$defs"]

    def published(field: dict[str, Any], value: str) -> bool:
        return (
            re.search(field["pattern"], value) is not None
            and field["minLength"] <= len(value) <= field["maxLength"]
        )

    def accepted(model: type[BaseModel], **fields: Any) -> bool:
        try:
            model(**fields)
        except ValidationError:
            return False
        return True

    owner = schema["ActionBody"]["properties"]["owner"]
    text = schema["ActionBody"]["properties"]["text"]
    for name in ORGANISATIONS:
        assert published(owner, name) == accepted(ActionBody, **{**ACTION, "owner": name}), name
    for value in TEXTS:
        assert published(text, value) == accepted(ActionBody, **{**ACTION, "text": value}), value
