"""Casework configuration from YAML: deadlines per task kind, chasing, the funder's target."""

from __future__ import annotations

from datetime import date, time, timedelta
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from services.casework.criminal_justice import Engagement, EngagementPolicy, ReminderOffset
from services.casework.domain import FIRST_CONTACT, DeadlinePolicy, Due
from services.casework.lifecycle import ChasePolicy
from services.casework.quarters import ReportPolicy
from shared.events import TaskKind, Urgency
from shared.redaction import safe_reason


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DueRule(_Frozen):
    hours: Annotated[float, Field(gt=0)] | None = None
    working_days: Annotated[int, Field(ge=1, le=60)] | None = None

    @model_validator(mode="after")
    def _one_of(self) -> DueRule:
        if (self.hours is None) == (self.working_days is None):
            raise ValueError("a deadline is either hours or working_days")
        return self

    def due(self) -> Due:
        return Due(hours=self.hours, working_days=self.working_days)


class FirstContact(_Frozen):
    immediate: DueRule
    otherwise: DueRule


class Chasing(_Frozen):
    escalate_after_hours: Annotated[float, Field(gt=0)] = 24


class EngagementTask(_Frozen):
    """The task opened when a case's engagement enters a state, and its deadline from then."""

    kind: TaskKind
    hours: Annotated[float, Field(gt=0)] | None = None
    working_days: Annotated[int, Field(ge=1, le=60)] | None = None

    @model_validator(mode="after")
    def _one_of(self) -> EngagementTask:
        if (self.hours is None) == (self.working_days is None):
            raise ValueError("a deadline is either hours or working_days")
        return self

    def due(self) -> Due:
        return Due(hours=self.hours, working_days=self.working_days)


class BookingReminder(_Frozen):
    """How long before a booked interview or court date its advisor is reminded."""

    hours: Annotated[float, Field(ge=0.001, le=24 * 28)] | None = None
    working_days: Annotated[int, Field(ge=1, le=20)] | None = None

    @model_validator(mode="after")
    def _one_of(self) -> BookingReminder:
        if (self.hours is None) == (self.working_days is None):
            raise ValueError("a reminder is either hours or working_days before")
        return self


class CriminalJustice(_Frozen):
    """Criminal-justice support (services/casework/criminal_justice.py)."""

    tasks: dict[Engagement, EngagementTask] = {
        Engagement.WILLING: EngagementTask(kind="arrange_account", working_days=5)
    }
    reminders_before_booking: Annotated[list[BookingReminder], Field(max_length=6)] = [
        BookingReminder(working_days=2),
        BookingReminder(hours=2),
    ]

    @model_validator(mode="after")
    def _sound(self) -> CriminalJustice:
        if Engagement.NOT_YET_ASKED in self.tasks:
            raise ValueError("no task can open on not_yet_asked: nothing enters it")
        kinds = [task.kind for task in self.tasks.values()]
        if len(set(kinds)) != len(kinds):
            raise ValueError("each criminal-justice state opens a task of its own kind")
        keys = [offset.key for offset in self.offsets()]
        if len(set(keys)) != len(keys):
            raise ValueError("a reminder offset is listed twice")
        return self

    def offsets(self) -> tuple[ReminderOffset, ...]:
        return tuple(
            ReminderOffset(hours=item.hours, working_days=item.working_days)
            for item in self.reminders_before_booking
        )

    def policy(self, deadlines: DeadlinePolicy) -> EngagementPolicy:
        return EngagementPolicy(
            tasks={state: (task.kind, task.due()) for state, task in self.tasks.items()},
            reminders=self.offsets(),
            deadlines=deadlines,
        )


class CaseworkConfig(_Frozen):
    working_day_closes_at: time = time(17)
    first_contact: FirstContact
    deadlines: dict[str, DueRule]
    chasing: Chasing = Chasing()
    people_supported_target: Annotated[int, Field(ge=1)] = 100
    # The funder's quarterly report (services/casework/quarters.py): the project's first day
    # (London date; the project to date runs from it, and no quarter that ended before it is
    # published), and per urgency how soon a case's alert must be acknowledged, from its raising,
    # to count as "within target". The shipped values are the notifier's own measure: before the
    # second escalation step of deploy/config/alerting.yaml (tests/unit/test_casework_quarters.py
    # keeps the two in step).
    project_starts: date = date(2026, 4, 1)
    acknowledgement_target_minutes: dict[Urgency, Annotated[float, Field(gt=0)]] = {
        Urgency.IMMEDIATE: 5,
        Urgency.PRIORITY: 30,
        Urgency.ROUTINE: 480,
    }
    criminal_justice: CriminalJustice = CriminalJustice()
    # An onward referral still `made` this many working days after the day it was made reminds
    # its advisor once (services/casework/referrals.py).
    referral_follow_up_working_days: Annotated[int, Field(ge=1, le=60)] = 5

    def deadline_policy(self) -> DeadlinePolicy:
        defaults = DeadlinePolicy()
        if missing := set(defaults.deadlines) - set(self.deadlines):
            raise ValueError(f"no deadline configured for {', '.join(sorted(missing))}")
        return DeadlinePolicy(
            deadlines={kind: rule.due() for kind, rule in self.deadlines.items()},
            first_contact_immediate=self.first_contact.immediate.due(),
            first_contact_otherwise=self.first_contact.otherwise.due(),
            working_day_closes_at=self.working_day_closes_at,
        )

    def engagement_policy(self) -> EngagementPolicy:
        if clash := {task.kind for task in self.criminal_justice.tasks.values()} & {
            FIRST_CONTACT,
            *self.deadlines,
        }:
            raise ValueError(
                f"criminal_justice task kind already a need or step: {', '.join(sorted(clash))}"
            )
        return self.criminal_justice.policy(self.deadline_policy())

    def report_policy(self) -> ReportPolicy:
        if missing := set(Urgency) - set(self.acknowledgement_target_minutes):
            raise ValueError(f"no acknowledgement_target_minutes for {', '.join(sorted(missing))}")
        return ReportPolicy(
            project_starts=self.project_starts,
            target=self.people_supported_target,
            acknowledgement_targets={
                urgency: timedelta(minutes=minutes)
                for urgency, minutes in self.acknowledgement_target_minutes.items()
            },
        )

    def chase_policy(self) -> ChasePolicy:
        return ChasePolicy(escalate_after=timedelta(hours=self.chasing.escalate_after_hours))


class ConfigError(ValueError):
    pass


def load_config(path: Path) -> CaseworkConfig:
    try:
        config = CaseworkConfig.model_validate(yaml.safe_load(path.read_text()))
        config.deadline_policy()
        config.engagement_policy()
        config.report_policy()
    except ValidationError as error:
        raise ConfigError(f"{path.name}: {safe_reason(error, own_input=True)}") from None
    except (ValueError, yaml.YAMLError) as error:
        raise ConfigError(f"{path.name}: {error}") from None
    return config
