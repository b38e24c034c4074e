"""Police contact, version 1: the ingress contract, identical over HTTP and the ingress topic.

Strict: unknown fields are refused (the sender must learn it sent something we would drop), types
are not coerced. Direct identifiers are `Secret` values: they print as asterisks, so they cannot
reach a log line or an error by accident. `reveal()` is for the vault alone.
"""

from __future__ import annotations

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
    ValidationInfo,
    field_validator,
    model_validator,
)

from shared.clock import LONDON
from shared.events import District, ExploitationType, NrmConsent, SupportNeed

CLOCK_SKEW = timedelta(minutes=5)
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


class Officer(_Strict):
    collar_number: Annotated[str, StringConstraints(min_length=1, max_length=16)]
    name: Secret[ShortText]
    phone: Secret[PhoneText] | None = None
    email: Secret[EmailText] | None = None


class Location(_Strict):
    district: District
    place_type: Tag | None = None
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
    operation: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    location: Location
    person: Person
    exploitation_types: Annotated[list[ExploitationType], Field(min_length=1, max_length=6)]
    indicators: Annotated[list[Tag], Field(max_length=50)] | None = None
    immediate_risk: bool
    nrm_consent: NrmConsent
    support_needs: Annotated[list[SupportNeed], Field(max_length=12)]
    notes: Secret[Annotated[str, StringConstraints(max_length=4000)]] | None = None

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
    return PoliceContactV1.model_validate_json(raw, context={"now": now})
