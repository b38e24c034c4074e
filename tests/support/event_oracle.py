"""An independent judge of the events on the internal topics, for the consumer fuzz.

Written from the event catalogue (the AsyncAPI documents in docs/contracts and the field lists of
shared/events.py, copied here by hand as a table), not by calling the pydantic models: a consumer
that processes a record this table calls invalid, or dead-letters one it calls valid, disagrees
with it. Three verdicts: True (valid), False (invalid) and None, where the contract leaves the
answer open: what the catalogue types as an integer, boolean or date-time but arrives as another
JSON type that the consumers' lax parsing may coerce (`"3"`, `true`, `1.0`, Unix seconds), a byte
order mark (RFC 8259 lets a parser ignore it), a repeated name, NUL or a lone surrogate in text
(the catalogue says nothing; PostgreSQL cannot store them, SQLite can).

A record is JSON when its content type is absent, empty or `application/json` (parameters
allowed): what the services publish. Any other content type is not an event.
"""

from __future__ import annotations

import datetime
import json
import math
import re
from collections.abc import Callable, Iterable
from typing import Any

from tests.support.contact_oracle import parse_rfc3339

Verdict = bool | None
Kind = Callable[[Any], Verdict]

CANONICAL_UUID = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
OTHER_UUID_FORMS = re.compile(r"(urn:uuid:)?\{?[0-9a-fA-F-]{32,36}\}?")
NUMERIC_TEXT = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*")


def all_of(verdicts: Iterable[Verdict]) -> Verdict:
    """False if any is False, else None if any is open, else True."""
    found = list(verdicts)
    if False in found:
        return False
    return None if None in found else True


def text(value: Any) -> Verdict:
    if not isinstance(value, str):
        return False
    if "\x00" in value or any("\ud800" <= char <= "\udfff" for char in value):
        return None
    return True


def short_text(max_length: int) -> Kind:
    """Text of 1..max_length characters (shared.events.RecordId)."""

    def check(value: Any) -> Verdict:
        verdict = text(value)
        if verdict is False or not 1 <= len(value) <= max_length:
            return False
        return verdict

    return check


def uuid_text(value: Any) -> Verdict:
    if not isinstance(value, str):
        return False
    if CANONICAL_UUID.fullmatch(value):
        return True
    return None if OTHER_UUID_FORMS.fullmatch(value) else False


def date_time(value: Any) -> Verdict:
    if isinstance(value, str):
        if parse_rfc3339(value) is not None:
            return True
        return None if NUMERIC_TEXT.fullmatch(value) else False
    if isinstance(value, bool) or value is None:
        return False
    return None if isinstance(value, int | float) else False  # Unix seconds, leniently


def pattern(regex: str) -> Kind:
    compiled = re.compile(regex, re.ASCII)
    return lambda value: isinstance(value, str) and compiled.fullmatch(value) is not None


def one_of(*allowed: str) -> Kind:
    return lambda value: isinstance(value, str) and value in allowed


def integer(value: Any) -> Verdict:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return True
    if isinstance(value, float):
        return None if math.isfinite(value) and value == int(value) else False
    if isinstance(value, str):
        return None if NUMERIC_TEXT.fullmatch(value) else False
    return False


def at_least(low: int) -> Kind:
    """An integer from `low`; what lax parsing may coerce (see `integer`) is open only if it is
    not below `low`."""

    def check(value: Any) -> Verdict:
        verdict = integer(value)
        if verdict is False or isinstance(value, bool):
            return verdict
        try:
            return verdict if float(value) >= low else False
        except (TypeError, ValueError, OverflowError):
            return verdict

    return check


def number(value: Any) -> Verdict:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return True if isinstance(value, int) or math.isfinite(value) else None
    if isinstance(value, str):
        return None if NUMERIC_TEXT.fullmatch(value) or value.lower() in ("nan", "inf") else False
    return False


def boolean(value: Any) -> Verdict:
    if isinstance(value, bool):
        return True
    return None if isinstance(value, int | float | str) else False


def nullable(kind: Kind) -> Kind:
    return lambda value: True if value is None else kind(value)


def list_of(kind: Kind) -> Kind:
    def check(value: Any) -> Verdict:
        return all_of(kind(item) for item in value) if isinstance(value, list) else False

    return check


def counts(value: Any) -> Verdict:
    if not isinstance(value, dict):
        return False
    return all_of([all_of(text(key) for key in value), *(integer(v) for v in value.values())])


def calendar_date(value: Any) -> Verdict:
    """YYYY-MM-DD; other strings and numbers pydantic's lax mode may read, leniently."""
    if isinstance(value, str):
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value, re.ASCII):
            return _real_date(value)
        return None
    if isinstance(value, bool) or value is None:
        return False
    return None if isinstance(value, int | float) else False


def _real_date(value: str) -> bool:
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def nested_counts(value: Any) -> Verdict:
    if not isinstance(value, dict):
        return False
    return all_of([all_of(text(key) for key in value), *(counts(v) for v in value.values())])


def non_negative_number(value: Any) -> Verdict:
    verdict = number(value)
    if verdict is False or isinstance(value, bool):
        return verdict
    try:
        return verdict if float(value) >= 0 else False
    except (TypeError, ValueError, OverflowError):
        return verdict


def natural_counts(value: Any) -> Verdict:
    """Counts that may not be negative (shared.events.Count)."""
    if not isinstance(value, dict):
        return False
    return all_of([all_of(text(key) for key in value), *(at_least(0)(v) for v in value.values())])


def nested_natural_counts(value: Any) -> Verdict:
    if not isinstance(value, dict):
        return False
    return all_of(
        [all_of(text(key) for key in value), *(natural_counts(v) for v in value.values())]
    )


def quarter_figures(value: Any) -> Verdict:
    """shared.events.QuarterCaseworkFigures: counts only."""
    return _fields(
        value,
        {name: at_least(0) for name in (
            "people_supported", "children", "adults_declined_nrm", "adults_other",
            "alerts_acknowledged", "alerts_acknowledged_within_target")},
        {"hours_to_first_contact_median": nullable(non_negative_number),
         "hours_to_first_contact_p90": nullable(non_negative_number),
         "referrals_by_need_and_outcome": nested_natural_counts,
         "criminal_justice_by_state": natural_counts},
    )  # fmt: skip


def attachment(value: Any) -> Verdict:
    return _fields(value, {"filename": text, "content_type": text, "content_base64": text}, {})


CASE_REFERENCE = pattern(r"MS-[0-9]{4}-[A-Z0-9]{4,12}")
# A UUID or a short token (empty: unknown), never a sentence: it reaches every log line.
CORRELATION_ID = pattern(r"([A-Za-z0-9][A-Za-z0-9._:-]{0,63})?")
TASK_KIND = pattern(r"[a-z][a-z_]{0,63}")
URGENCY = one_of("immediate", "priority", "routine")

# Per event type: required fields, and fields with a default (may be absent).
ENVELOPE = ({"occurred_at": date_time, "correlation_id": CORRELATION_ID, "producer": text},
            {"event_id": uuid_text, "causation_id": nullable(text)})  # fmt: skip
REFERRAL = (
    {"case_reference": CASE_REFERENCE, "force_code": text, "recorded_at": date_time,
     "district": one_of("breckland", "broadland", "great_yarmouth", "kings_lynn_west_norfolk",
                        "north_norfolk", "norwich", "south_norfolk", "outside_norfolk"),
     "exploitation_types": list_of(one_of("labour", "sexual", "criminal", "domestic_servitude",
                                          "organ_harvesting", "unknown")),
     "pathway": one_of("child", "nrm", "duty_to_notify", "nrm_decision_pending"),
     "age_unknown": boolean, "urgency": URGENCY, "immediate_risk": boolean,
     "nrm_consent": one_of("given", "declined", "not_asked"),
     "support_needs": list_of(one_of(
         "legal_advice", "immigration_advice", "healthcare", "mental_health", "housing",
         "safe_accommodation", "financial_support", "employment", "education", "interpreter",
         "substance_misuse", "other"))},
    {"operation": nullable(text), "operation_group": nullable(text)},
)  # fmt: skip
RECORD_ID = short_text(max_length=64)
TASK = {"case_reference": CASE_REFERENCE, "task_id": RECORD_ID, "kind": TASK_KIND}


def opened_tasks(value: Any) -> Verdict:
    """TasksOpenedV1's tasks: from 1 to 64 of them (MAX_TASKS_PER_EVENT), each a task id, a kind
    and a due time, nothing else."""
    if not isinstance(value, list) or not 1 <= len(value) <= 64:
        return False
    opened = {"task_id": RECORD_ID, "kind": TASK_KIND, "due_at": date_time}
    return all_of(_fields(item, opened, {}) for item in value)


REFERRAL_OUTCOMES = ("made", "accepted", "declined", "waiting_list", "completed")
DECLINE_REASONS = ("not_eligible", "no_capacity", "out_of_area", "person_declined",
                   "person_unreachable", "need_met_elsewhere", "other_service_more_suitable")  # fmt: skip
ORGANISATION_ID = pattern(r"[a-z0-9][a-z0-9-]{1,63}")
ORGANISATION = pattern(r"[A-Z0-9][A-Za-z0-9 &'(),./-]{1,79}")
SCHEMAS: dict[str, tuple[dict[str, Kind], dict[str, Kind]]] = {
    "referral.opened.v1": REFERRAL,
    "child_referral.opened.v1": REFERRAL,
    "referral.updated.v1": REFERRAL,
    "alert.raised.v1": ({"alert_id": text, "kind": text, "urgency": URGENCY,
                         "case_references": list_of(CASE_REFERENCE)}, {}),
    "alert.delivered.v1": ({"alert_id": text, "case_references": list_of(CASE_REFERENCE),
                            "person_id": text, "channel": text, "attempts": integer,
                            "latency_ms": integer}, {}),
    "alert.delivery_failed.v1": ({"alert_id": text, "person_id": text, "channel": text,
                                  "attempts": integer, "fallback_channel": nullable(text)}, {}),
    "alert.escalated.v1": ({"alert_id": text, "step": integer, "targets": list_of(text),
                            "person_ids": list_of(text)}, {}),
    "alert.acknowledged.v1": ({"alert_id": text, "case_references": list_of(CASE_REFERENCE),
                               "person_id": text, "via": one_of("link", "code")}, {}),
    "tasks.opened.v1": ({"case_reference": CASE_REFERENCE, "tasks": opened_tasks}, {}),
    "task.opened.v1": (TASK | {"due_at": date_time}, {}),
    "task.overdue.v1": (TASK | {"due_at": date_time, "threshold": one_of("due", "escalated")},
                        {"assignee": nullable(text)}),
    "task.closed.v1": (TASK | {"status": one_of("done", "not_needed", "referred")},
                       {"organisation": nullable(text)}),
    "casework.figures.v1": ({"people_supported": integer, "target": integer,
                             "open_tasks_by_need": counts, "overdue_tasks_by_need": counts,
                             "median_hours_to_first_contact": nullable(number),
                             "referrals_by_organisation": counts},
                            {"criminal_justice_by_state": counts,
                             "referrals_by_need_and_outcome": nested_counts}),
    "criminal_justice.reminder.v1": ({"case_reference": CASE_REFERENCE, "booking_id": RECORD_ID,
                                      "booking_kind": one_of("interview", "court"),
                                      "booked_at": date_time,
                                      "before": pattern(r"[0-9]+(\.[0-9]+)?_(hours|working_days)")},
                                     {"assignee": nullable(text)}),
    "referral.outcome_recorded.v1": (
        TASK | {"referral_id": RECORD_ID, "outcome": one_of(*REFERRAL_OUTCOMES)},
        {"organisation_id": nullable(ORGANISATION_ID), "organisation_name": nullable(ORGANISATION),
         "decline_reason": nullable(one_of(*DECLINE_REASONS))}),
    "referral.follow_up_due.v1": (
        TASK | {"referral_id": RECORD_ID, "made_on": calendar_date},
        {"organisation_id": nullable(ORGANISATION_ID), "organisation_name": nullable(ORGANISATION),
         "assignee": nullable(text)}),
    "casework.quarter.v1": ({"quarter": pattern(r"[0-9]{4}-[0-9]{2}-Q[1-4]"),
                             "starts_on": calendar_date, "ends_on": calendar_date,
                             "project_starts": calendar_date, "target": at_least(1),
                             "version": at_least(1), "quarter_figures": quarter_figures,
                             "to_date": quarter_figures}, {}),
    "agenda.published.v1": ({"meeting_series": text, "meeting_starts_at": date_time,
                             "title": text, "version": integer},
                            {"attachments": list_of(attachment), "recipients": list_of(text)}),
    "agenda.item_added.v1": ({"case_reference": CASE_REFERENCE, "meeting_series": text,
                              "meeting_starts_at": date_time, "late": boolean}, {}),
    "funder_report.published.v1": ({"quarter": pattern(r"[0-9]{4}-[0-9]{2}-Q[1-4]"),
                                    "version": at_least(1), "title": text},
                                   {"attachments": list_of(attachment),
                                    "recipients": list_of(text)}),
    "training.pace_warning.v1": ({"meeting_series": pattern(r"[a-z][a-z0-9-]{0,63}"),
                                  "held": at_least(0), "expected_by_now": at_least(1),
                                  "target": at_least(1), "project_starts": calendar_date,
                                  "period_ends": calendar_date}, {}),
}  # fmt: skip


def _fields(value: Any, required: dict[str, Kind], optional: dict[str, Kind]) -> Verdict:
    if not isinstance(value, dict):
        return False
    if any(name not in required and name not in optional for name in value):
        return False  # unknown fields are refused
    if any(name not in value for name in required):
        return False
    return all_of((required | optional)[name](item) for name, item in value.items())


def event_verdict(document: Any, event_types: Iterable[str]) -> Verdict:
    """Is this decoded JSON document a valid event of one of `event_types` (a topic's)?"""
    if not isinstance(document, dict):
        return False
    event_type = document.get("event_type")
    if not isinstance(event_type, str) or event_type not in set(event_types):
        return False
    required, optional = SCHEMAS[event_type]
    fields = {name: item for name, item in document.items() if name != "event_type"}
    return _fields(fields, ENVELOPE[0] | required, ENVELOPE[1] | optional)


def is_json_content_type(value: bytes | None) -> bool:
    if value is None or value == b"":
        return True
    media = value.split(b";", 1)[0].strip().lower()
    return media == b"application/json"


def json_verdict(body: bytes) -> tuple[Verdict, Any]:
    """(False, None) if `body` is not one JSON text; (None, document) for a byte order mark or a
    repeated name; (True, document) otherwise."""
    verdict: Verdict = True
    if body.startswith(b"\xef\xbb\xbf"):
        verdict, body = None, body[3:]
    try:
        text_ = body.decode("utf-8")
    except UnicodeDecodeError:
        return False, None
    repeated = False

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal repeated
        repeated |= len({name for name, _ in items}) != len(items)
        return dict(items)

    def no_constants(name: str) -> Any:
        raise ValueError(name)

    try:
        document = json.loads(text_, object_pairs_hook=pairs, parse_constant=no_constants)
    except (ValueError, RecursionError):
        return False, None
    return (None if repeated else verdict), document
