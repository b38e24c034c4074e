"""An independent judge of police contact v1, for the fuzz tests: is this body a valid contact?

Written from the contract's text (docs DOMAIN.md, "Police contact, version 1"), with the lengths
and patterns the published contract adds (docs/contracts/intake.openapi.json, what senders
validate against; kept in step with it by hand), and NOT from services/intake/contract.py: no pydantic, its own strict JSON
reading and its own RFC 3339 parser. A production validator that lets a bad contact through, or
refuses a good one, disagrees with it, and the fuzz says which field.

Choices where the texts are silent, each stated once:
- JSON is RFC 8259, strictly: UTF-8 without a byte order mark, no NaN/Infinity, no duplicate
  names, no lone surrogates (not Unicode text), no control characters unescaped in strings.
- No string may hold U+0000 (the service refuses NUL at the edge: PostgreSQL text cannot hold it).
- Numbers are not coerced: `25.0` is not an age, `1` is not a boolean, `"25"` is not a number.
- `recorded_at` is RFC 3339 `date-time` with seconds and an offset (`Z` or `±hh:mm`, hours up to
  23), not in the future beyond 5 minutes, not before 1900 (a typing error); a leap second
  (`:60`) is refused.
- `date_of_birth` is `YYYY-MM-DD`, a real calendar day, not before 1900 and not after the London
  date of `recorded_at` (the calendar the age decision uses).
- `person.languages`: DOMAIN.md writes `languages[]` without `?`; the published contract makes it
  optional (default empty, never null). The oracle follows the published contract.
- `exploitation_types` and `support_needs` are sets: a repeated value is refused.
- `\\s` in the published email pattern is read as Unicode White_Space.
- Lengths count code points.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")
CLOCK_SKEW = timedelta(minutes=5)
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)

DISTRICTS = frozenset(
    {"breckland", "broadland", "great_yarmouth", "kings_lynn_west_norfolk", "north_norfolk",
     "norwich", "south_norfolk", "outside_norfolk"}
)  # fmt: skip
EXPLOITATION_TYPES = frozenset(
    {"labour", "sexual", "criminal", "domestic_servitude", "organ_harvesting", "unknown"}
)
NRM_CONSENT = frozenset({"given", "declined", "not_asked"})
SUPPORT_NEEDS = frozenset(
    {"legal_advice", "immigration_advice", "healthcare", "mental_health", "housing",
     "safe_accommodation", "financial_support", "employment", "education", "interpreter",
     "substance_misuse", "other"}
)  # fmt: skip

# Unicode White_Space, written out (the property, not Python's str.isspace, which differs).
WHITE_SPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)
FULL_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)

Problems = list[str]
Check = Callable[[Any, str], Problems]


class _NotJson(Exception):
    pass


def contact_problems(body: bytes, now: datetime) -> Problems:
    """Why `body` is not a valid police contact v1 at `now`: an empty list means it is valid."""
    try:
        document = _strict_json(body)
    except _NotJson as error:
        return [f"not JSON: {error}"]
    # The shape first: it stops at the contract's depth, so what comes after never meets a
    # thousand-level nesting (the JSON reader takes up to about a thousand).
    problems = _CONTACT(document, "")
    if not problems:
        problems = _text_problems(document, "")
    if not problems:  # the cross-field rules, on a document of the right shape
        problems = _time_problems(document, now)
    return problems


def is_valid_contact(body: bytes, now: datetime) -> bool:
    return not contact_problems(body, now)


# --- JSON, strictly --------------------------------------------------------------------------


def _strict_json(body: bytes) -> Any:
    if body.startswith(b"\xef\xbb\xbf"):
        raise _NotJson("byte order mark")
    try:
        text = body.decode("utf-8", errors="strict")
    except UnicodeDecodeError as error:
        raise _NotJson("not UTF-8") from error

    def no_constants(name: str) -> Any:
        raise _NotJson(f"{name} is not JSON")

    def unique_names(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        names = [name for name, _ in pairs]
        if len(set(names)) != len(names):
            raise _NotJson("a name repeated in an object")
        return dict(pairs)

    try:
        return json.loads(text, parse_constant=no_constants, object_pairs_hook=unique_names)
    except RecursionError as error:  # far deeper than any contract field
        raise _NotJson("nested too deep") from error
    except ValueError as error:  # JSONDecodeError, or an integer of too many digits
        raise _NotJson(type(error).__name__) from error


def _text_problems(value: Any, where: str) -> Problems:
    """NUL and lone surrogates, in any string or name, wherever they are."""
    if isinstance(value, str):
        if "\x00" in value:
            return [f"{where}: NUL character"]
        if any("\ud800" <= char <= "\udfff" for char in value):
            return [f"{where}: lone surrogate"]
        return []
    if isinstance(value, dict):
        found: Problems = []
        for name, item in value.items():
            found += _text_problems(name, f"{where}.<name>") + _text_problems(
                item, f"{where}.{name}"
            )
        return found
    if isinstance(value, list):
        return [
            p for index, item in enumerate(value) for p in _text_problems(item, f"{where}[{index}]")
        ]
    return []


# --- shapes ---------------------------------------------------------------------------------


def _text(low: int = 0, high: int | None = None, pattern: str | None = None) -> Check:
    compiled = re.compile(pattern) if pattern else None

    def check(value: Any, where: str) -> Problems:
        if not isinstance(value, str):
            return [f"{where}: not a string"]
        if len(value) < low or (high is not None and len(value) > high):
            return [f"{where}: length {len(value)} outside {low}..{high}"]
        if compiled is not None and compiled.fullmatch(value) is None:
            return [f"{where}: does not match {pattern}"]
        return []

    return check


def _boolean(value: Any, where: str) -> Problems:
    return [] if isinstance(value, bool) else [f"{where}: not a boolean"]


def _integer(low: int, high: int) -> Check:
    def check(value: Any, where: str) -> Problems:
        if isinstance(value, bool) or not isinstance(value, int):
            return [f"{where}: not an integer"]
        return [] if low <= value <= high else [f"{where}: outside {low}..{high}"]

    return check


def _one_of(allowed: frozenset[str]) -> Check:
    def check(value: Any, where: str) -> Problems:
        return [] if isinstance(value, str) and value in allowed else [f"{where}: not allowed"]

    return check


def _list(item: Check, low: int = 0, high: int | None = None, unique: bool = False) -> Check:
    def check(value: Any, where: str) -> Problems:
        if not isinstance(value, list):
            return [f"{where}: not a list"]
        if len(value) < low or (high is not None and len(value) > high):
            return [f"{where}: {len(value)} items outside {low}..{high}"]
        found = [p for index, entry in enumerate(value) for p in item(entry, f"{where}[{index}]")]
        if not found and unique and len({json.dumps(entry) for entry in value}) != len(value):
            found.append(f"{where}: a value repeated")
        return found

    return check


def _rfc3339(value: Any, where: str) -> Problems:
    return [] if isinstance(value, str) and parse_rfc3339(value) else [f"{where}: not RFC 3339"]


def _full_date(value: Any, where: str) -> Problems:
    return [] if isinstance(value, str) and parse_date(value) else [f"{where}: not a date"]


def _object(
    required: dict[str, Check],
    nullable: dict[str, Check] | None = None,
    optional: dict[str, Check] | None = None,
) -> Check:
    """`nullable` fields may be absent or null; `optional` ones absent, never null."""
    nullable, optional = nullable or {}, optional or {}

    def check(value: Any, where: str) -> Problems:
        if not isinstance(value, dict):
            return [f"{where or 'body'}: not an object"]
        found = [f"{where}.{name}: unknown field" for name in value if
                 name not in required and name not in nullable and name not in optional]  # fmt: skip
        found += [f"{where}.{name}: missing" for name in required if name not in value]
        for name, entry in value.items():
            if name in required or name in optional:
                found += (required | optional)[name](entry, f"{where}.{name}")
            elif name in nullable and entry is not None:
                found += nullable[name](entry, f"{where}.{name}")
        return found

    return check


_PHONE = _text(3, 32, r"\+?[0-9 ()-]+")
_NO_SPACE_AT = rf"[^@{WHITE_SPACE}]+"
_EMAIL = _text(0, 254, rf"{_NO_SPACE_AT}@{_NO_SPACE_AT}\.{_NO_SPACE_AT}")
_TAG = _text(1, 100)

_CONTACT = _object(
    required={
        "police_reference": _text(1, 64, r"[A-Za-z0-9/_-]+"),
        "force_code": _text(2, 8, r"[A-Za-z0-9]+"),
        "recorded_at": _rfc3339,
        "officer": _object(
            required={"collar_number": _text(1, 16), "name": _text(1, 200)},
            nullable={"phone": _PHONE, "email": _EMAIL},
        ),
        "location": _object(
            required={"district": _one_of(DISTRICTS)},
            nullable={"place_type": _TAG, "postcode_sector": _text(0, 8)},
        ),
        "person": _object(
            required={
                "interpreter_required": _boolean,
                "safe_to_contact": _object(
                    required={"phone": _boolean, "sms": _boolean, "email": _boolean}
                ),
            },
            nullable={
                "name": _text(1, 200),
                "date_of_birth": _full_date,
                "age_estimate": _integer(0, 120),
                "gender": _TAG,
                "nationality": _text(2, 64),
                "phone": _PHONE,
            },
            optional={"languages": _list(_TAG, 0, 20)},
        ),
        "exploitation_types": _list(_one_of(EXPLOITATION_TYPES), 1, 6, unique=True),
        "immediate_risk": _boolean,
        "nrm_consent": _one_of(NRM_CONSENT),
        "support_needs": _list(_one_of(SUPPORT_NEEDS), 0, 12, unique=True),
    },
    nullable={
        # One line of plain words ("Op Kestrel"), as the contract now pins it (it reaches SMS).
        "operation": _text(1, 49, r"[A-Za-z0-9]([A-Za-z0-9 .'&/-]{0,47}[A-Za-z0-9])?"),
        "indicators": _list(_TAG, 0, 50),
        "notes": _text(0, 4000),
    },
)


# --- time -----------------------------------------------------------------------------------


def parse_rfc3339(text: str) -> datetime | None:
    """An RFC 3339 date-time with an offset, or None. Fractions beyond microseconds are cut."""
    match = RFC3339.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    fraction, zone, sign, offset_hours, offset_minutes = match.groups()[6:]
    if hour > 23 or minute > 59 or second > 59:
        return None
    offset = timedelta(0)
    if zone not in ("Z", "z"):
        if int(offset_hours) > 23 or int(offset_minutes) > 59:
            return None
        offset = timedelta(hours=int(offset_hours), minutes=int(offset_minutes))
        offset = -offset if sign == "-" else offset
    micro = int((fraction or ".0")[1:7].ljust(6, "0"))
    try:
        local = datetime(year, month, day, hour, minute, second, micro)
    except ValueError:  # no such day (or year 0)
        return None
    try:
        return (local - offset).replace(tzinfo=UTC)
    except OverflowError:  # past year 1 or 9999 in UTC: before 1900 or in the future anyway
        return (datetime.min if offset > timedelta(0) else datetime.max).replace(tzinfo=UTC)


def parse_date(text: str) -> date | None:
    match = FULL_DATE.fullmatch(text)
    if match is None:
        return None
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError:
        return None


def _time_problems(document: dict[str, Any], now: datetime) -> Problems:
    found: Problems = []
    recorded = parse_rfc3339(document["recorded_at"])
    assert recorded is not None  # the shape check passed
    if recorded > now + CLOCK_SKEW:
        found.append("recorded_at: in the future")
    if recorded < EARLIEST:
        found.append("recorded_at: before 1900")
    birth_text = document["person"].get("date_of_birth")
    if birth_text is not None:
        birth = parse_date(birth_text)
        assert birth is not None
        if birth < EARLIEST.date():
            found.append("person.date_of_birth: before 1900")
        elif not found and birth > _london_date(recorded):
            found.append("person.date_of_birth: after recorded_at (London date)")
    return found


def _london_date(instant: datetime) -> date:
    # UTC to London by hand would be the thing under test; zoneinfo is the reference library.
    return instant.astimezone(LONDON).date()
