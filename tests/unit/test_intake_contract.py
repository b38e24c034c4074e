"""The police contact contract: strict parsing, and errors that never echo what was submitted."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from services.intake.contract import PoliceContactV1, parse_contact
from shared.events import District, ExploitationType, NrmConsent
from shared.redaction import safe_reason, validation_errors
from tests.unit.builders import contact_from, example_dict

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
CANARY_NAME = "Canary Wilhelmina"
CANARY_PHONE = "+44 7700 900123"
CANARY_NOTES = "canary-notes: sleeps above the car wash on Quayside"

Mutation = Callable[[dict[str, Any]], None]


def _set(*path: str, value: Any) -> Mutation:
    def apply(document: dict[str, Any]) -> None:
        target = document
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return apply


def _recorded(offset: timedelta) -> str:
    return (NOW + offset).isoformat()


# (mutation, path of the single error, error type, values that must not appear in any report)
INVALID_CASES: list[tuple[str, Mutation, str, str, tuple[str, ...]]] = [
    ("unknown_top_level_field", _set("favourite_colour", value="canary-extra-31"),
     "(a field not in the contract)", "extra_forbidden", ("canary-extra-31", "favourite_colour")),
    ("unknown_nested_field", _set("person", "shoe_size", value="canary-extra-32"),
     "person.(a field not in the contract)", "extra_forbidden", ("canary-extra-32", "shoe_size")),
    ("bool_as_string", _set("immediate_risk", value="true"),
     "immediate_risk", "bool_type", ()),
    ("nested_bool_as_string", _set("person", "interpreter_required", value="true"),
     "person.interpreter_required", "bool_type", ()),
    ("int_as_string", _set("person", "age_estimate", value="canary-age-41"),
     "person.age_estimate", "int_type", ("canary-age-41",)),
    ("recorded_at_without_offset", _set("recorded_at", value="2026-11-27T22:41:00"),
     "recorded_at", "value_error", ("22:41",)),
    ("recorded_at_too_far_ahead", _set("recorded_at", value=_recorded(timedelta(minutes=6))),
     "recorded_at", "value_error", ("09:06",)),
    ("duplicate_exploitation_types", _set("exploitation_types", value=["labour", "labour"]),
     "exploitation_types", "value_error", ()),
    ("empty_exploitation_types", _set("exploitation_types", value=[]),
     "exploitation_types", "too_short", ()),
    ("unknown_exploitation_type", _set("exploitation_types", value=["canary-type-5"]),
     "exploitation_types.0", "enum", ("canary-type-5",)),
    ("police_reference_with_space", _set("police_reference", value="BAD REF canary-77"),
     "police_reference", "string_pattern_mismatch", ("BAD REF", "canary-77")),
    ("notes_over_4000_chars", _set("notes", value="canary-long-notes " * 230),
     "notes", "string_too_long", ("canary-long-notes",)),
    ("phone_with_letters", _set("person", "phone", value="call canary-phone-88"),
     "person.phone", "string_pattern_mismatch", ("canary-phone-88",)),
    # An operation's name reaches SMS and subjects: one line of plain words, 50 characters at most.
    ("operation_with_a_line_break", _set("operation", value="Op Kestrel\nCanary Wilhelmina"),
     "operation", "string_pattern_mismatch", ("Canary", "Kestrel")),
    ("operation_too_long", _set("operation", value="Op " + "Canary" * 9),
     "operation", "string_pattern_mismatch", ("CanaryCanary",)),
    ("operation_with_markup", _set("operation", value="Op <b>Kestrel</b>"),
     "operation", "string_pattern_mismatch", ("Kestrel",)),
]  # fmt: skip


def _invalid(mutation: Mutation) -> dict[str, Any]:
    document = example_dict()
    document["person"]["name"] = CANARY_NAME  # valid itself; must not leak via the other error
    mutation(document)
    return document


def test_the_documented_example_parses() -> None:
    contact = contact_from(example_dict(), NOW)
    assert contact.police_reference == "NFK/2026/118734"
    assert contact.location.district is District.GREAT_YARMOUTH
    assert contact.exploitation_types == [ExploitationType.LABOUR]
    assert contact.nrm_consent is NrmConsent.DECLINED
    assert contact.recorded_at == datetime(2026, 11, 27, 22, 41, tzinfo=UTC)


@pytest.mark.parametrize(
    ("mutation", "path", "error_type"),
    [pytest.param(m, p, t, id=i) for i, m, p, t, _ in INVALID_CASES],
)
def test_invalid_contact_is_refused_at_the_right_field(
    mutation: Mutation, path: str, error_type: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        contact_from(_invalid(mutation), NOW)
    assert [(e["path"], e["type"]) for e in validation_errors(caught.value)] == [(path, error_type)]


@pytest.mark.parametrize(
    ("mutation", "canaries"),
    [pytest.param(m, c, id=i) for i, m, _, _, c in INVALID_CASES],
)
def test_error_reports_never_contain_submitted_values(
    mutation: Mutation, canaries: tuple[str, ...]
) -> None:
    with pytest.raises(ValidationError) as caught:
        contact_from(_invalid(mutation), NOW)
    reason = safe_reason(caught.value)
    listed = json.dumps(validation_errors(caught.value))
    assert reason.startswith("1 invalid field(s): ")
    for canary in (CANARY_NAME, "Canary", *canaries):
        assert canary not in reason
        assert canary not in listed


def test_pydantic_own_message_would_leak_so_the_canary_check_is_meaningful() -> None:
    with pytest.raises(ValidationError) as caught:
        contact_from(_invalid(_set("police_reference", value="BAD REF canary-77")), NOW)
    assert "canary-77" in str(caught.value)
    assert "canary-77" not in safe_reason(caught.value)


@pytest.mark.parametrize(
    "offset",
    [timedelta(minutes=4), timedelta(minutes=5), timedelta(0), timedelta(days=-3)],
    ids=["4_minutes_ahead", "exactly_5_minutes_ahead", "now", "3_days_ago"],
)
def test_recorded_at_within_clock_skew_is_accepted(offset: timedelta) -> None:
    document = example_dict()
    document["recorded_at"] = _recorded(offset)
    assert contact_from(document, NOW).recorded_at == NOW + offset


def test_recorded_at_just_over_clock_skew_is_refused() -> None:
    document = example_dict()
    document["recorded_at"] = _recorded(timedelta(minutes=5, seconds=1))
    with pytest.raises(ValidationError, match="recorded_at is in the future"):
        contact_from(document, NOW)


def test_malformed_json_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_contact('{"police_reference": "canary-json-9"', NOW)
    assert validation_errors(caught.value)[0]["type"] == "json_invalid"
    assert "canary-json-9" not in safe_reason(caught.value)


def _canary_contact() -> PoliceContactV1:
    document = example_dict()
    document["person"]["name"] = CANARY_NAME
    document["person"]["phone"] = CANARY_PHONE
    document["notes"] = CANARY_NOTES
    document["officer"]["collar_number"] = "canary-c-4471"
    document["location"]["place_type"] = "canary-place-the-farm"
    document["indicators"] = ["canary-indicator-debt"]
    return contact_from(document, NOW)


@pytest.mark.parametrize("render", [repr, str], ids=["repr", "str"])
def test_printing_a_contact_hides_direct_identifiers(render: Callable[[object], str]) -> None:
    text = render(_canary_contact())
    for secret in (CANARY_NAME, CANARY_PHONE, CANARY_NOTES, "1990-05-17", "PC J. Example",
                   "canary-c-4471", "canary-place-the-farm", "canary-indicator-debt"):  # fmt: skip
        assert secret not in text
    assert "NFK/2026/118734" in text  # the non-personal parts are still there


def test_reveal_gives_the_plain_values_for_the_vault() -> None:
    revealed = _canary_contact().reveal()
    assert revealed["person"]["name"] == CANARY_NAME
    assert revealed["person"]["phone"] == CANARY_PHONE
    assert revealed["person"]["date_of_birth"] == "1990-05-17"
    assert revealed["notes"] == CANARY_NOTES
    assert revealed["officer"]["name"] == "PC J. Example"
    assert revealed["officer"]["collar_number"] == "canary-c-4471"
    assert revealed["location"]["place_type"] == "canary-place-the-farm"
    assert revealed["indicators"] == ["canary-indicator-debt"]
    assert revealed["recorded_at"] == "2026-11-27T22:41:00+00:00"
