"""The directory of local services for onward referral: what an entry is, the YAML file that seeds
it, and the pure rules for suggesting organisations and flagging an entry due for review.

An entry meets one or more needs (casework's need kinds: the support needs and the standard tasks
of deploy/config/casework.yaml `deadlines`), covers named districts or "all" (every district,
including a case outside Norfolk), and says how to refer: the organisation's own phone number,
e-mail address, online form or how a person refers themselves. Never a victim's details.

Source of truth: deploy/config/services-directory.yaml seeds the database; on each start, entries
whose id the database does not hold yet are added (so a new organisation added to the file appears
after a restart), and an id the database already holds, live or retired, is never overwritten from
the file: after the first load the API (PUT / DELETE /v1/directory/{id}) is the source of truth.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shared.events import District

ALL = "all"
# Casework's need kinds (services/casework/domain.py, deploy/config/casework.yaml `deadlines`);
# first_contact is the advisor's own call, not an onward referral. A unit test keeps the two equal.
NeedKind = Literal[
    "legal_advice", "immigration_advice", "healthcare", "mental_health", "housing",
    "safe_accommodation", "financial_support", "employment", "education", "interpreter",
    "substance_misuse", "other", "confirm_duty_to_notify_submitted",
    "explain_nrm_and_record_consent", "childrens_services_handover",
]  # fmt: skip
NEED_KINDS: frozenset[str] = frozenset(get_args(NeedKind))
Coverage = District | Literal["all"]
ReferralMethod = Literal["phone", "email", "online_form", "self_referral"]
EntryId = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9][a-z0-9-]{1,63}$",
        description="A slug: lower-case letters, digits and hyphens, e.g. norfolk-housing-advice.",
    ),
]
_PHONE = r"^\+?[0-9][0-9 ]{5,19}$"
# White space spelt out: `\s` means different characters to Python and to JSON Schema (ECMA).
_EMAIL = r"^[^@ \t\r\n]+@[^@ \t\r\n]+\.[^@ \t\r\n]+$"
_HTTPS = r"^https://[^ \t\r\n]+$"


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Route(_Strict):
    notes: Annotated[str, Field(max_length=300)] | None = None


def _contact(pattern: str, description: str) -> Any:
    # The pattern goes into the published schema as it is; the check itself is the validator
    # below, so a head of service editing the YAML reads what is wrong rather than a regex.
    return Field(max_length=300, description=description, json_schema_extra={"pattern": pattern})


def _matching(contact: str, pattern: str, problem: str) -> str:
    # fullmatch: `$` is the end of the value, as in JSON Schema (Python's re.search would also let
    # a final newline through).
    if not re.fullmatch(pattern, contact):
        raise ValueError(problem)
    return contact


# One way to refer, the organisation's contact (never the person's), one model per method so the
# published schema says what each contact must look like (a discriminated union on `method`).
class PhoneRoute(_Route):
    method: Literal["phone"]
    contact: str = _contact(_PHONE, "The organisation's number: digits and spaces, optional +.")

    @field_validator("contact")
    @classmethod
    def _number(cls, contact: str) -> str:
        return _matching(contact, _PHONE, "a phone contact is a number: digits and spaces, "
                         "optional leading +")  # fmt: skip


class EmailRoute(_Route):
    method: Literal["email"]
    contact: str = _contact(_EMAIL, "The organisation's address, name@domain.")

    @field_validator("contact")
    @classmethod
    def _address(cls, contact: str) -> str:
        return _matching(contact, _EMAIL, "an email contact is an address, name@domain")


class OnlineFormRoute(_Route):
    method: Literal["online_form"]
    contact: str = _contact(_HTTPS, "The form's https:// URL.")

    @field_validator("contact")
    @classmethod
    def _url(cls, contact: str) -> str:
        return _matching(contact, _HTTPS, "an online_form contact is an https:// URL")


class SelfReferralRoute(_Route):
    method: Literal["self_referral"]
    contact: Annotated[str, Field(min_length=1, max_length=300)] = Field(
        description="How the person gets in touch themselves."
    )


ReferralRoute = Annotated[
    PhoneRoute | EmailRoute | OnlineFormRoute | SelfReferralRoute,
    Field(discriminator="method"),
]


class EntryBody(_Strict):
    """A directory entry as staff write it (PUT /v1/directory/{id}); the id is the path's."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    needs: Annotated[
        list[NeedKind], Field(min_length=1, json_schema_extra={"uniqueItems": True})
    ] = Field(description="The needs the organisation meets (casework's task kinds).")
    districts: Annotated[
        list[Coverage],
        Field(
            min_length=1,
            # The schema says what the validators below check: no repeats, "all" alone.
            json_schema_extra={
                "uniqueItems": True,
                "anyOf": [{"maxItems": 1}, {"not": {"contains": {"const": ALL}}}],
            },
        ),
    ] = Field(
        description='The districts it covers, or ["all"] for every district (and outside Norfolk).'
    )
    how_to_refer: Annotated[list[ReferralRoute], Field(min_length=1)]
    eligibility: Annotated[str, Field(max_length=1000)] | None = Field(
        default=None, description="e.g. no recourse to public funds accepted."
    )
    opening_hours: Annotated[str, Field(max_length=500)] | None = None
    review_date: date = Field(description="The entry is flagged for review once this has passed.")

    @field_validator("review_date", mode="before")
    @classmethod
    def _written_as_a_date(cls, value: object) -> object:
        # Pydantic's lax mode would read a number as seconds since 1970; the schema says a date.
        if isinstance(value, int | float):
            raise ValueError("review_date is a date, YYYY-MM-DD")
        return value

    @field_validator("needs", "districts")
    @classmethod
    def _no_repeats(cls, values: list[str]) -> list[str]:
        if len(set(values)) != len(values):
            raise ValueError("an item is listed twice")
        return values

    @field_validator("districts")
    @classmethod
    def _all_alone(cls, values: list[str]) -> list[str]:
        if ALL in values and len(values) > 1:
            raise ValueError('"all" stands alone: it already covers every district')
        return values


class Entry(EntryBody):
    """An entry of the YAML file: the body plus its id."""

    id: EntryId


class DirectoryFile(_Strict):
    entries: list[Entry]


class DirectoryError(ValueError):
    pass


def load_directory(path: Path) -> list[Entry]:
    """The file's entries, or a DirectoryError naming each bad entry (by position and id) and
    field. The file holds organisations' public contacts only, so its values may be quoted."""
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise DirectoryError(f"{path.name}: {error}") from None
    return parse_directory(raw, path.name)


def parse_directory(raw: Any, source: str) -> list[Entry]:
    try:
        entries = DirectoryFile.model_validate(raw).entries
    except ValidationError as error:
        raise DirectoryError(f"{source}: {describe(error, raw)}") from None
    seen: set[str] = set()
    for position, entry in enumerate(entries, start=1):
        if entry.id in seen:
            raise DirectoryError(f"{source}: entry {position} (id {entry.id}): id repeats")
        seen.add(entry.id)
    return entries


def describe(error: ValidationError, raw: Any) -> str:
    """Each problem as `entry N (id X): field: message`; N counts from 1, as people do."""
    parts = []
    for item in error.errors(include_url=False, include_input=False):
        location = list(item["loc"])
        where = ""
        if len(location) >= 2 and location[0] == "entries" and isinstance(location[1], int):
            position = location[1]
            where = f"entry {position + 1}{_entry_id(raw, position)}: "
            location = location[2:]
        field = ".".join(str(part) for part in location) or "(entry)"
        parts.append(f"{where}{field}: {item['msg']}")
    return "; ".join(parts)


def _entry_id(raw: Any, position: int) -> str:
    try:
        value = raw["entries"][position]["id"]
    except (KeyError, IndexError, TypeError):
        return ""
    return f" (id {value})" if isinstance(value, str) else ""


# Pure rules, with an explicit `today` (London) for the review flag.


def covers(districts: Sequence[str], district: District | None) -> bool:
    """An entry covering "all" covers every case, even one whose district is unknown."""
    return ALL in districts or (district is not None and district.value in districts)


def review_overdue(review_date: date, today: date) -> bool:
    """The review date has passed: on the day itself the entry is still in date."""
    return review_date < today


def matching(
    entries: Iterable[dict[str, Any]], need: str | None, district: District | None
) -> list[dict[str, Any]]:
    """Entries meeting `need` (any, if None) and covering `district` (if it is None: only those
    covering "all"), by name."""
    found = [
        entry
        for entry in entries
        if (need is None or need in entry["needs"]) and covers(entry["districts"], district)
    ]
    return sorted(found, key=lambda entry: (entry["name"].casefold(), entry["id"]))
