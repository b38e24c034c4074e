"""The alerting policy (services/notifier/policy.py): the shipped file, escalation schedules, and
templates that can only ever say allow-listed fields."""

from __future__ import annotations

import string
from collections.abc import Callable
from datetime import time, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from services.notifier.policy import (
    ALLOWED_FIELDS,
    SMS_LIMIT,
    AlertingPolicy,
    Bursts,
    Escalation,
    Step,
    Target,
    Templates,
    load_policy,
    render,
)
from shared.events import Urgency
from shared.rota import ChannelKind, RotaError
from tests.unit.builders import ROOT

ALERTING_FILE = ROOT / "deploy" / "config" / "alerting.yaml"
TEMPLATE_KINDS = (
    "referral", "child_referral", "grouped", "reminder", "booking_reminder",
    "referral_follow_up",  # onward referrals with no answer (casework)
    "agenda", "rota_gap",
    "heartbeat", "pipeline_quiet", "pipeline_cleared",  # the dead-man's switch
    "training_pace",  # training sessions behind the pace (meeting scheduler)
    "operation_warning", "operation_reminder",  # police operations ahead
    "funder_report",  # the funder's quarterly report (meeting scheduler)
)  # fmt: skip
CANARY = "Zq9canaryQz"
PROPERTY = settings(max_examples=200, deadline=None, database=None)


@pytest.fixture(scope="module")
def policy() -> AlertingPolicy:
    return load_policy(ALERTING_FILE)


def _shipped() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(ALERTING_FILE.read_text())
    return document


def _write_policy(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    document = _shipped()
    change(document)
    path = tmp_path / "alerting.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


# --- The shipped file ---------------------------------------------------------------------------


def test_shipped_policy_loads_with_the_documented_values(policy: AlertingPolicy) -> None:
    assert policy.channels == {
        Urgency.IMMEDIATE: (ChannelKind.SMS, ChannelKind.VOICE, ChannelKind.EMAIL),
        Urgency.PRIORITY: (ChannelKind.SMS, ChannelKind.EMAIL),
        Urgency.ROUTINE: (ChannelKind.EMAIL,),
    }
    assert policy.routine_hours == (time(9, 0), time(17, 0))
    assert policy.max_attempts_per_channel == 4
    assert policy.ack_link_hours == 72
    assert policy.message_retention_days == 30
    assert policy.gap_warning_days == 7
    assert policy.bursts == Bursts(window_minutes=30, batch_minutes=2)
    assert tuple(policy.templates) == TEMPLATE_KINDS


def test_every_urgency_has_channels_and_escalation(policy: AlertingPolicy) -> None:
    for urgency in Urgency:
        assert len(policy.channels[urgency]) >= 1
        assert policy.escalation[urgency].steps[0].after_minutes == 0
        assert policy.escalation[urgency].steps[0].notify == (Target.ON_DUTY,)


def _minutes(schedule: list[tuple[timedelta, tuple[Target, ...]]]) -> list[float]:
    return [delay / timedelta(minutes=1) for delay, _ in schedule]


def test_shipped_immediate_schedule(policy: AlertingPolicy) -> None:
    repeat = (Target.HEAD_OF_SERVICE, Target.BACKUP)
    assert policy.escalation[Urgency.IMMEDIATE].schedule() == [
        (timedelta(minutes=0), (Target.ON_DUTY,)),
        (timedelta(minutes=5), (Target.ON_DUTY,)),
        (timedelta(minutes=10), (Target.BACKUP,)),
        (timedelta(minutes=15), (Target.HEAD_OF_SERVICE,)),
        (timedelta(minutes=30), repeat),
        (timedelta(minutes=45), repeat),
        (timedelta(minutes=60), repeat),
        (timedelta(minutes=75), repeat),
    ]


def test_shipped_priority_schedule_repeats_to_the_head_of_service(policy: AlertingPolicy) -> None:
    assert policy.escalation[Urgency.PRIORITY].schedule() == [
        (timedelta(minutes=0), (Target.ON_DUTY,)),
        (timedelta(minutes=30), (Target.ON_DUTY,)),
        (timedelta(minutes=60), (Target.BACKUP, Target.HEAD_OF_SERVICE)),
        (timedelta(minutes=120), (Target.HEAD_OF_SERVICE,)),
        (timedelta(minutes=180), (Target.HEAD_OF_SERVICE,)),
    ]


def test_shipped_routine_schedule_has_no_repeats(policy: AlertingPolicy) -> None:
    assert policy.escalation[Urgency.ROUTINE].schedule() == [
        (timedelta(minutes=0), (Target.ON_DUTY,)),
        (timedelta(minutes=480), (Target.HEAD_OF_SERVICE,)),
    ]


# --- Escalation.schedule ------------------------------------------------------------------------


def test_schedule_unrolls_repeats_after_the_last_step() -> None:
    escalation = Escalation(
        steps=(
            Step(after_minutes=0, notify=(Target.ON_DUTY,)),
            Step(after_minutes=10, notify=(Target.BACKUP,)),
        ),
        repeat_every_minutes=7,
        repeat_times=3,
        repeat_notify=(Target.COORDINATOR,),
    )
    assert escalation.schedule() == [
        (timedelta(minutes=0), (Target.ON_DUTY,)),
        (timedelta(minutes=10), (Target.BACKUP,)),
        (timedelta(minutes=17), (Target.COORDINATOR,)),
        (timedelta(minutes=24), (Target.COORDINATOR,)),
        (timedelta(minutes=31), (Target.COORDINATOR,)),
    ]


def test_schedule_repeat_defaults_to_the_head_of_service() -> None:
    escalation = Escalation(
        steps=(Step(after_minutes=2.5, notify=(Target.ON_DUTY,)),),
        repeat_every_minutes=0.5,
        repeat_times=2,
    )
    assert escalation.schedule() == [
        (timedelta(seconds=150), (Target.ON_DUTY,)),
        (timedelta(seconds=180), (Target.HEAD_OF_SERVICE,)),
        (timedelta(seconds=210), (Target.HEAD_OF_SERVICE,)),
    ]


def test_schedule_without_repeats_is_the_steps() -> None:
    escalation = Escalation(
        steps=(Step(after_minutes=0, notify=(Target.ON_DUTY, Target.BACKUP)),),
        repeat_every_minutes=15,
    )
    assert _minutes(escalation.schedule()) == [0.0]


@pytest.mark.parametrize(
    "fields",
    [
        {"steps": ()},
        {"steps": ({"after_minutes": -1, "notify": ("on_duty",)},)},
        {"steps": ({"after_minutes": 0, "notify": ()},)},
        {"steps": ({"after_minutes": 0, "notify": ("everyone",)},)},
        {"steps": ({"after_minutes": 0, "notify": ("on_duty",)},), "repeat_times": 21},
        {"steps": ({"after_minutes": 0, "notify": ("on_duty",)},), "repeat_every_minutes": 0},
    ],
    ids=["no_steps", "negative_delay", "no_targets", "unknown_target", "too_many", "zero_every"],
)
def test_invalid_escalations_are_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Escalation.model_validate(fields)


# --- Loading errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "field"),
    [
        ("Referral for {name}", "name"),
        ("{person} was met", "person"),
        ("Born {date_of_birth}", "date_of_birth"),
        ("{case_reference.__class__}", "case_reference.__class__"),
        ("{case_reference[0]}", "case_reference[0]"),
        ("{0}", "0"),
    ],
)
@pytest.mark.parametrize("part", ["title", "body", "short"])
def test_template_outside_the_allow_list_is_refused(
    tmp_path: Path, template: str, field: str, part: str
) -> None:
    def change(document: dict[str, Any]) -> None:
        document["templates"]["child_referral"][part] = template

    with pytest.raises(RotaError) as caught:
        load_policy(_write_policy(tmp_path, change))
    assert str(caught.value) == (
        f"alerting.yaml: 1 invalid field(s): templates.child_referral.{part}: "
        f"Value error, template uses fields outside the allow-list: {field}"
    )


def test_refusal_lists_every_unknown_field_sorted() -> None:
    with pytest.raises(ValidationError, match="allow-list: name, person \\["):
        Templates(title="{person} {case_reference} {name}", body="", short="")


def test_field_nested_in_a_format_spec_is_refused(tmp_path: Path) -> None:
    def change(document: dict[str, Any]) -> None:
        document["templates"]["referral"]["short"] = "{case_reference:{person}}"

    with pytest.raises(RotaError, match="person"):
        load_policy(_write_policy(tmp_path, change))


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: d["channels"].pop("routine"), "channels: Value error, no entry for urgency routine"),
        (lambda d: d["escalation"].pop("priority"), "escalation: Value error, no entry for urgency priority"),
        (lambda d: d["channels"].update(immediate=["pager"]), "channels.immediate.0: Input should be"),
        (lambda d: d.update(surprise=1), "surprise: Extra inputs are not permitted"),
    ],
    ids=["no_routine_channels", "no_priority_escalation", "bad_kind", "extra"],
)  # fmt: skip
def test_incomplete_policy_is_refused(
    tmp_path: Path, change: Callable[[dict[str, Any]], None], problem: str
) -> None:
    with pytest.raises(RotaError) as caught:
        load_policy(_write_policy(tmp_path, change))
    assert str(caught.value).startswith("alerting.yaml: 1 invalid field(s): ")
    assert problem in str(caught.value)


@pytest.mark.parametrize("kind", ["agenda", "rota_gap"])
def test_policy_without_a_template_kind_is_refused(tmp_path: Path, kind: str) -> None:
    def change(document: dict[str, Any]) -> None:
        document["templates"].pop(kind)

    with pytest.raises(RotaError, match=kind):
        load_policy(_write_policy(tmp_path, change))


# --- render ------------------------------------------------------------------------------------


def test_render_fills_allow_listed_fields_and_blanks_the_rest() -> None:
    assert render("{case_reference} in {district}{operation}.", {"case_reference": "MS-1"}) == (
        "MS-1 in ."
    )


def test_render_does_not_interpret_braces_in_values() -> None:
    assert render("[{detail}]", {"detail": "{case_reference} {{x}}"}) == "[{case_reference} {{x}}]"


@pytest.mark.parametrize(
    "extra", [{"name": "Canary Wilhelmina"}, {"date_of_birth": "canary-1990-01-01"}]
)
def test_render_refuses_fields_outside_the_allow_list(extra: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=r"^fields outside the allow-list: ") as caught:
        render("{case_reference}", {"case_reference": "MS-1", **extra})
    assert str(caught.value) == f"fields outside the allow-list: {next(iter(extra))}"
    assert "anary" not in str(caught.value)


def test_sms_limit_is_two_gsm_segments() -> None:
    assert SMS_LIMIT == 306


# --- Allow-list property ------------------------------------------------------------------------


def _expected(template: str, fields: dict[str, str]) -> str:
    """What the template may say: its literal text, the allow-listed fields' values, and for a
    plural choice `{count:one|many}` the word ("one" when the value is 1), never the value."""
    parts: list[str] = []
    for literal, name, spec, _ in string.Formatter().parse(template):
        parts.append(literal)
        if name is not None and spec:
            one, many = spec.split("|")
            parts.append(one if fields.get(name, "").strip() == "1" else many)
        elif name is not None:
            parts.append(fields.get(name, ""))
    return "".join(parts)


def _canary_value(prefix: str, suffix: str) -> str:
    return f"{prefix}{CANARY}{suffix}"


FIELD_VALUES = st.dictionaries(
    st.sampled_from(sorted(ALLOWED_FIELDS)),
    st.builds(_canary_value, st.text(max_size=30), st.text(max_size=30)),
)
SHIPPED_TEMPLATES = [
    (kind, part, text)
    for kind, templates in _shipped()["templates"].items()
    for part, text in templates.items()
]
LITERAL = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="{}"), max_size=20)
GENERATED_TEMPLATE = st.lists(
    st.one_of(LITERAL, st.sampled_from(sorted(ALLOWED_FIELDS)).map(lambda name: f"{{{name}}}")),
    max_size=12,
).map("".join)


def _canaries_placed(template: str, fields: dict[str, str]) -> int:
    return sum(
        fields.get(name, "").count(CANARY)
        for _, name, spec, _ in string.Formatter().parse(template)
        if name is not None and not spec  # a plural choice shows a word of the template's own
    )


@PROPERTY
@given(st.sampled_from(SHIPPED_TEMPLATES), FIELD_VALUES)
def test_shipped_templates_say_only_their_text_and_the_fields(
    shipped: tuple[str, str, str], fields: dict[str, str]
) -> None:
    _, _, template = shipped
    rendered = render(template, fields)
    assert rendered == _expected(template, fields)
    assert rendered.count(CANARY) == _canaries_placed(template, fields)


@PROPERTY
@given(GENERATED_TEMPLATE, FIELD_VALUES)
def test_any_accepted_template_says_only_its_text_and_the_fields(
    template: str, fields: dict[str, str]
) -> None:
    accepted = Templates(title=template, body=template, short=template)
    rendered = render(accepted.short, fields)
    assert rendered == _expected(template, fields)
    assert rendered.count(CANARY) == _canaries_placed(template, fields)


@PROPERTY
@given(FIELD_VALUES, st.sampled_from(["name", "person", "notes", "phone", "dob"]))
def test_render_never_takes_a_field_outside_the_allow_list(
    fields: dict[str, str], outside: str
) -> None:
    with pytest.raises(ValueError, match=f"^fields outside the allow-list: {outside}$"):
        render("{case_reference}", fields | {outside: CANARY})
