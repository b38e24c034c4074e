"""How alerts are sent: channels by urgency, escalation steps, message templates, bursts.

Loaded from YAML (deploy/config/alerting.yaml). Templates may use only the allow-listed fields
(`ALLOWED_FIELDS`); a template naming anything else is refused when the file is loaded, so no
configuration can put a name, a date of birth or a note into a message.
"""

from __future__ import annotations

import re
import string
from datetime import time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shared.events import Urgency
from shared.redaction import safe_reason
from shared.rota import ChannelKind, RotaError

ALLOWED_FIELDS = frozenset(
    {"case_reference", "urgency", "URGENCY", "district", "time", "operation", "ack_link", "ack_code",
     "kind", "count", "case_references", "detail", "attempt", "attempts"}
)  # fmt: skip
# Numbers a template may pluralise by: `{count:referral|referrals}` renders "referral" when count
# is 1 and "referrals" otherwise (English has two forms), so "1 more referral" reads right.
NUMBER_FIELDS = frozenset({"count", "attempt", "attempts"})
PLURAL_SPEC = re.compile(r"[^|{}]+\|[^|{}]+")
SMS_LIMIT = 306  # two concatenated GSM-7 segments
# heartbeat, pipeline_quiet, pipeline_cleared: the dead-man's switch (services/notifier/heartbeat.py)
TemplateKind = Literal[
    "referral", "child_referral", "grouped", "reminder", "booking_reminder", "agenda", "rota_gap",
    "heartbeat", "pipeline_quiet", "pipeline_cleared",
    "training_pace",  # training sessions behind the pace (TrainingPaceWarningV1, training_pace.py)
    "referral_follow_up",  # an onward referral with no answer (casework, ReferralFollowUpDueV1)
    "operation_warning", "operation_reminder",  # police operations ahead (operations.py)
    "funder_report",  # the funder's quarterly report, PDF and CSV attached (funder_report.py)
]  # fmt: skip
TEMPLATE_KINDS: tuple[str, ...] = get_args(TemplateKind)


class Target(StrEnum):
    ON_DUTY = "on_duty"
    BACKUP = "backup"  # the other advisors not on leave
    HEAD_OF_SERVICE = "head_of_service"
    COORDINATOR = "meeting_coordinator"
    CHILDRENS_SAFEGUARDING = "childrens_safeguarding"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Step(_Frozen):
    after_minutes: Annotated[float, Field(ge=0, le=24 * 60)]
    notify: Annotated[tuple[Target, ...], Field(min_length=1)]


class Escalation(_Frozen):
    steps: Annotated[tuple[Step, ...], Field(min_length=1)]
    repeat_every_minutes: Annotated[float, Field(gt=0)] | None = None
    repeat_times: Annotated[int, Field(ge=0, le=20)] = 0
    repeat_notify: tuple[Target, ...] = (Target.HEAD_OF_SERVICE,)

    @model_validator(mode="after")
    def _ordered_and_complete(self) -> Escalation:
        delays = [step.after_minutes for step in self.steps]
        if delays != sorted(delays):
            raise ValueError("escalation steps must be in order of after_minutes")
        if self.repeat_times and self.repeat_every_minutes is None:
            raise ValueError("repeat_times needs repeat_every_minutes")
        return self

    def schedule(self) -> list[tuple[timedelta, tuple[Target, ...]]]:
        """Every step with its delay from raising, repeats unrolled: this is what is snapshotted."""
        planned = [(timedelta(minutes=step.after_minutes), step.notify) for step in self.steps]
        last = planned[-1][0]
        for number in range(1, self.repeat_times + 1):
            every = timedelta(minutes=self.repeat_every_minutes or 0)
            planned.append((last + every * number, self.repeat_notify))
        return planned


def allow_listed_template(template: str) -> str:
    """Refuse a template naming a field outside ALLOWED_FIELDS, or using any format spec but a
    plural choice on a number field, so rendering cannot fail mid-send or show anything else."""
    parsed = list(string.Formatter().parse(template))
    names = {name for _, name, _, _ in parsed if name is not None}
    # A format spec can hold fields of its own ("{a:{b}}"): they count too.
    for _, name, spec, _ in parsed:
        if name is not None and spec:
            names |= {
                inner for _, inner, _, _ in string.Formatter().parse(spec) if inner is not None
            }
    if unknown := names - ALLOWED_FIELDS:
        raise ValueError(
            f"template uses fields outside the allow-list: {', '.join(sorted(unknown))}"
        )
    for _, name, spec, conversion in parsed:
        if name is None or not (spec or conversion):
            continue
        if conversion or name not in NUMBER_FIELDS or not PLURAL_SPEC.fullmatch(spec or ""):
            raise ValueError(
                "template fields take no format spec or conversion: write {field}, or "
                "{count:one|many} on a number field for the word that agrees with it"
            )
    return template


class Templates(_Frozen):
    """Format strings over ALLOWED_FIELDS. `short` goes to SMS and voice, `title`/`body` to email
    and chat."""

    title: str
    body: str
    short: str

    @field_validator("title", "body", "short")
    @classmethod
    def _allow_listed(cls, template: str) -> str:
        return allow_listed_template(template)


class Bursts(_Frozen):
    """Contacts of one operation within `window_minutes` of its first alert become grouped
    follow-ups, sent `batch_minutes` after the first one waiting; `immediate` ones never group."""

    window_minutes: Annotated[float, Field(gt=0)] = 30
    batch_minutes: Annotated[float, Field(ge=0)] = 2


class AlertingPolicy(_Frozen):
    channels: dict[Urgency, tuple[ChannelKind, ...]]
    routine_hours: tuple[time, time] = (time(9), time(17))
    escalation: dict[Urgency, Escalation]
    templates: dict[TemplateKind, Templates]
    bursts: Bursts = Bursts()
    max_attempts_per_channel: Annotated[int, Field(ge=1, le=20)] = 4
    ack_link_hours: Annotated[float, Field(gt=0)] = 72
    message_retention_days: Annotated[float, Field(gt=0)] = 30
    gap_warning_days: Annotated[int, Field(ge=1, le=60)] = 7
    # A police operation announced ahead (services/notifier/operations.py): the head of service is
    # warned when more potential victims than this are expected; the advisor on duty at its start
    # is reminded this many hours before it (the day before and the hour before).
    operation_expected_threshold: Annotated[int, Field(ge=1, le=500)] = 10
    operation_reminder_hours: Annotated[
        tuple[Annotated[float, Field(gt=0, le=7 * 24)], ...], Field(max_length=4)
    ] = (24, 1)
    # Put before the title and the SMS text of every notice after a person's first about one
    # alert, so a reminder does not look like (or, by e-mail, thread away as) the first one.
    renotify_prefix: str = "Reminder {attempt} of {attempts}: "

    @field_validator("renotify_prefix")
    @classmethod
    def _prefix_allow_listed(cls, template: str) -> str:
        return allow_listed_template(template)

    @field_validator("channels", "escalation")
    @classmethod
    def _every_urgency(cls, value: dict[Urgency, object]) -> dict[Urgency, object]:
        if missing := set(Urgency) - set(value):
            raise ValueError(f"no entry for urgency {', '.join(sorted(missing))}")
        return value

    @field_validator("templates")
    @classmethod
    def _every_kind(cls, value: dict[str, Templates]) -> dict[str, Templates]:
        if missing := set(TEMPLATE_KINDS) - set(value):
            raise ValueError(f"no templates for {', '.join(sorted(missing))}")
        return value


class _PluralFormatter(string.Formatter):
    """`{count:one|many}` is the word that agrees with count; the loader allows no other spec."""

    def format_field(self, value: object, format_spec: str) -> str:
        if not format_spec:
            return str(value)
        one, many = format_spec.split("|")
        return one if str(value).strip() == "1" else many


def render(template: str, fields: dict[str, str]) -> str:
    """Only allow-listed fields exist in `fields`; anything else is a programming error."""
    if unknown := set(fields) - ALLOWED_FIELDS:
        raise ValueError(f"fields outside the allow-list: {', '.join(sorted(unknown))}")
    return _PluralFormatter().vformat(
        template, (), {name: fields.get(name, "") for name in ALLOWED_FIELDS}
    )


def load_policy(path: Path) -> AlertingPolicy:
    try:
        return AlertingPolicy.model_validate(yaml.safe_load(path.read_text()))
    except ValidationError as error:
        raise RotaError(f"{path.name}: {safe_reason(error, own_input=True)}") from None
    except yaml.YAMLError:
        raise RotaError(f"{path.name} is not valid YAML") from None
