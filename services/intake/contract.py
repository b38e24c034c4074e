"""Police contact, version 1: the ingress contract, identical over HTTP and the ingress topic.

Strict: unknown fields are refused (the sender must learn it sent something we would drop), types
are not coerced. Direct identifiers are `Secret` values: they print as asterisks, so they cannot
reach a log line or an error by accident. `reveal()` is for the vault alone.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    Secret,
    SecretStr,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from shared.clock import LONDON
from shared.events import District, ExploitationType, NrmConsent, SupportNeed
from shared.http_guards import ESCAPED_NUL

CLOCK_SKEW = timedelta(minutes=5)
# RFC 3339 section 5.6 `date-time`: full time with seconds and an explicit offset. Pydantic's own
# parser also takes Unix seconds, minutes without seconds and "+0000" (found by the oracle fuzz).
RFC3339_DATE_TIME = re.compile(
    r"(\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2})(\.\d{1,6})?\d*([Zz]|[+-]\d{2}:\d{2})"
)
# Sanity bounds: older values are typing errors, and would overflow time-zone arithmetic.
EARLIEST_CONTACT = datetime(1900, 1, 1, tzinfo=UTC)
EARLIEST_BIRTH = date(1900, 1, 1)

PoliceReference = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9/_-]+$")
]
ForceCode = Annotated[str, StringConstraints(min_length=2, max_length=8, pattern=r"^[A-Za-z0-9]+$")]
PhoneText = Annotated[
    str, StringConstraints(min_length=3, max_length=32, pattern=r"^\+?[0-9 ()-]+$")
]
EmailText = Annotated[str, StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


# An operation's name reaches SMS, e-mail subjects, logs and the NASN agenda: one line of plain
# words ("Op Kestrel", "Operation Aidant 2"), never free text.
OperationName = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9 .'&/-]{0,47}[A-Za-z0-9]$|^[A-Za-z0-9]$")
]


class Officer(_Strict):
    # With a force code, a collar number identifies the officer: personal data like their name.
    collar_number: Secret[Annotated[str, StringConstraints(min_length=1, max_length=16)]]
    name: Secret[ShortText]
    phone: Secret[PhoneText] | None = None
    email: Secret[EmailText] | None = None


class Location(_Strict):
    district: District
    place_type: Secret[Tag] | None = None  # "the farm on X lane" can locate a person
    postcode_sector: Secret[Annotated[str, StringConstraints(max_length=8)]] | None = None


class SafeToContact(_Strict):
    phone: bool
    sms: bool
    email: bool


class Person(_Strict):
    name: Secret[ShortText] | None = None
    date_of_birth: Secret[date] | None = None
    age_estimate: Annotated[int, Field(ge=0, le=120)] | None = None
    gender: Tag | None = None
    nationality: Secret[Annotated[str, StringConstraints(min_length=2, max_length=64)]] | None = (
        None
    )
    languages: Annotated[list[Tag], Field(max_length=20)] = Field(default_factory=list)
    interpreter_required: bool
    phone: Secret[PhoneText] | None = None
    safe_to_contact: SafeToContact


class PoliceContactV1(_Strict):
    police_reference: PoliceReference
    force_code: ForceCode
    recorded_at: AwareDatetime
    officer: Officer
    operation: OperationName | None = None
    location: Location
    person: Person
    exploitation_types: Annotated[list[ExploitationType], Field(min_length=1, max_length=6)]
    # Observed indicators are free text about the person's circumstances: vault only.
    indicators: Secret[Annotated[list[Tag], Field(max_length=50)]] | None = None
    immediate_risk: bool
    nrm_consent: NrmConsent
    support_needs: Annotated[list[SupportNeed], Field(max_length=12)]
    notes: Secret[Annotated[str, StringConstraints(max_length=4000)]] | None = None

    @field_validator("recorded_at", mode="before")
    @classmethod
    def _rfc3339(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value  # strict validation refuses it with its own message
        if not (match := RFC3339_DATE_TIME.fullmatch(value)):
            raise ValueError("recorded_at must be an RFC 3339 date-time with seconds and offset")
        # Parsed here: after a before-validator pydantic validates in Python mode, where strict
        # mode takes no string for a datetime. Digits past microseconds are dropped.
        whole, fraction, offset = match.groups()
        return datetime.fromisoformat(f"{whole}{fraction or ''}{offset}".upper())

    @field_validator("recorded_at")
    @classmethod
    def _not_in_the_future(cls, value: datetime, info: ValidationInfo) -> datetime:
        now = (info.context or {}).get("now")
        if isinstance(now, datetime) and value > now + CLOCK_SKEW:
            raise ValueError("recorded_at is in the future")
        if value < EARLIEST_CONTACT:
            raise ValueError("recorded_at is before 1900")
        return value

    @model_validator(mode="after")
    def _born_before_met(self) -> PoliceContactV1:
        birth = self.person.date_of_birth
        if birth is not None:
            born = birth.get_secret_value()
            if born < EARLIEST_BIRTH:
                raise ValueError("person.date_of_birth is before 1900")
            # The London calendar, as the age decision uses (services/intake/domain.py).
            if born > self.recorded_at.astimezone(LONDON).date():
                raise ValueError("person.date_of_birth is after recorded_at")
        return self

    @field_validator("exploitation_types", "support_needs")
    @classmethod
    def _no_repeats(cls, value: list[Any]) -> list[Any]:
        if len(set(value)) != len(value):
            raise ValueError("contains the same value twice")
        return value

    def reveal(self) -> dict[str, Any]:
        """The contact with every secret in plain form, for the encrypted vault only."""
        revealed: dict[str, Any] = _reveal(self.model_dump(mode="python"))
        return revealed


def _reveal(value: Any) -> Any:
    if isinstance(value, Secret):
        return _reveal(value.get_secret_value())
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {key: _reveal(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_reveal(item) for item in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def parse_contact(raw: bytes | str, now: datetime) -> PoliceContactV1:
    """Validate a JSON document against the contract; raises pydantic's ValidationError."""
    # PostgreSQL text cannot hold U+0000 and the HTTP edge refuses it (shared/http_guards.py): the
    # ingress topic gives the same answer, since it is the same contract. (Checked on the raw
    # bytes: a model validator would make pydantic validate the rest in Python, not JSON, mode.)
    if ESCAPED_NUL.search(raw.encode() if isinstance(raw, str) else raw):
        raise ValidationError.from_exception_data(
            "PoliceContactV1",
            [
                InitErrorDetails(
                    type=PydanticCustomError("nul_character", NUL_REFUSED), loc=(), input=""
                )
            ],
        )
    return PoliceContactV1.model_validate_json(raw, context={"now": now})


NUL_REFUSED = "text may not contain NUL characters"
