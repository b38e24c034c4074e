"""Casework configuration from YAML: deadlines per task kind, chasing, the funder's target."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from services.casework.domain import DeadlinePolicy, Due
from services.casework.lifecycle import ChasePolicy
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


class CaseworkConfig(_Frozen):
    working_day_closes_at: time = time(17)
    first_contact: FirstContact
    deadlines: dict[str, DueRule]
    chasing: Chasing = Chasing()
    people_supported_target: Annotated[int, Field(ge=1)] = 100

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

    def chase_policy(self) -> ChasePolicy:
        return ChasePolicy(escalate_after=timedelta(hours=self.chasing.escalate_after_hours))


class ConfigError(ValueError):
    pass


def load_config(path: Path) -> CaseworkConfig:
    try:
        config = CaseworkConfig.model_validate(yaml.safe_load(path.read_text()))
        config.deadline_policy()
    except ValidationError as error:
        raise ConfigError(f"{path.name}: {safe_reason(error, own_input=True)}") from None
    except (ValueError, yaml.YAMLError) as error:
        raise ConfigError(f"{path.name}: {error}") from None
    return config
