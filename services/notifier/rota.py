"""People, channels and the weekly rota, loaded from YAML; `on_duty` is a pure decision.

Channel URLs are apprise URLs. Credentials never sit in the YAML: write `${VAR}` (or
`${VAR:-default}`) and the value comes from the environment when the file is loaded.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shared.redaction import safe_reason

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_NAME = re.compile(r"[A-Z0-9_]+")


class Role(StrEnum):
    ADVISOR = "advisor"
    HEAD_OF_SERVICE = "head_of_service"
    MEETING_COORDINATOR = "meeting_coordinator"
    CHILDRENS_SAFEGUARDING = "childrens_safeguarding"


class RotaError(ValueError):
    """The rota file is unusable; the message names the problem, never a secret."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Person(_Frozen):
    id: str
    role: Role
    channels: Annotated[tuple[str, ...], Field(min_length=1)]


class Shift(_Frozen):
    days: Annotated[tuple[Weekday, ...], Field(min_length=1)]
    start: time
    end: time  # end <= start means the shift runs past midnight into the next day
    person: str

    def covers(self, local: datetime) -> bool:
        weekday = WEEKDAYS[local.weekday()]
        previous_day = WEEKDAYS[(local.weekday() - 1) % 7]
        clock = local.time()
        if self.start < self.end:
            return weekday in self.days and self.start <= clock < self.end
        return (weekday in self.days and clock >= self.start) or (
            previous_day in self.days and clock < self.end
        )


class Rota(_Frozen):
    timezone: str = "Europe/London"
    people: Annotated[tuple[Person, ...], Field(min_length=1)]
    weekly: tuple[Shift, ...] = ()
    last_resort: str = Field(description="Who is alerted when no shift covers the time.")

    @model_validator(mode="after")
    def _people_exist(self) -> Rota:
        ids = {person.id for person in self.people}
        named = {shift.person for shift in self.weekly} | {self.last_resort}
        if unknown := named - ids:
            raise ValueError(f"rota names unknown people: {', '.join(sorted(unknown))}")
        return self

    def person(self, person_id: str) -> Person:
        return next(person for person in self.people if person.id == person_id)

    def with_role(self, role: Role) -> tuple[Person, ...]:
        return tuple(person for person in self.people if person.role is role)


def on_duty(rota: Rota, now: datetime) -> Person:
    """The first shift covering `now` in the rota's time zone (wall-clock, so BST/GMT changes need
    no special case); otherwise the last-resort person, so an alert always has a recipient."""
    local = now.astimezone(ZoneInfo(rota.timezone))
    for shift in rota.weekly:
        if shift.covers(local):
            return rota.person(shift.person)
    return rota.person(rota.last_resort)


def _expand(text: str, environ: dict[str, str]) -> str:
    """Shell-like `${VAR}` and `${VAR:-default}`; a default may hold references of its own and is
    only expanded when it is used."""
    out: list[str] = []
    position = 0
    while (start := text.find("${", position)) != -1:
        out.append(text[position:start])
        end = _closing_brace(text, start + 2)
        name, has_default, default = text[start + 2 : end].partition(":-")
        if not _NAME.fullmatch(name):
            raise RotaError("a ${...} reference in the rota has an invalid variable name")
        if name in environ:
            out.append(environ[name])
        elif has_default:
            out.append(_expand(default, environ))
        else:
            raise RotaError(f"environment variable {name} is referenced by the rota but not set")
        position = end + 1
    out.append(text[position:])
    return "".join(out)


def _closing_brace(text: str, index: int) -> int:
    depth = 1
    while index < len(text):
        if text.startswith("${", index):
            depth, index = depth + 1, index + 2
            continue
        if text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
        index += 1
    raise RotaError("a ${ in the rota is never closed")


def load_rota(path: Path, environ: dict[str, str] | None = None) -> Rota:
    environ = dict(os.environ) if environ is None else environ
    raw = yaml.safe_load(path.read_text())
    for person in raw.get("people", []):
        person["channels"] = [_expand(url, environ) for url in person.get("channels", [])]
    try:
        return Rota.model_validate(raw)
    except ValidationError as error:
        # pydantic's own text quotes the (expanded) values: channel URLs hold credentials.
        raise RotaError(f"{path.name}: {safe_reason(error)}") from None
