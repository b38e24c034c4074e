"""Keeping personal data out of logs and error texts.

Personal data arrives wrapped in pydantic Secret types (services/intake/contract.py), so formatting it
prints asterisks. This module is the second line: it drops known personal keys from log events and
turns exceptions into texts that never echo input values (pydantic's own messages do).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, MutableMapping
from typing import Any

from pydantic import ValidationError

from shared.errors import PermanentError, TransientError

PERSONAL_KEYS = frozenset(
    {
        "name", "date_of_birth", "dob", "phone", "email", "address", "postcode", "nationality",
        "notes", "person", "officer", "body", "payload", "message_body", "languages", "gender",
        "collar_number", "place_type", "indicators", "police_reference",
    }
)  # fmt: skip
REDACTED = "[redacted]"
# Exceptions whose messages we write ourselves or that describe the system, not the data.
SAFE_MESSAGE_TYPES: tuple[type[BaseException], ...] = (
    PermanentError, TransientError, OSError, TimeoutError, RuntimeError,
)  # fmt: skip
MAX_REASON = 1000


def redact_mapping(event: MutableMapping[Any, Any]) -> MutableMapping[Any, Any]:
    for key in list(event):
        if isinstance(key, str) and key.lower() in PERSONAL_KEYS:
            event[key] = REDACTED
        else:
            event[key] = _redact_value(event[key])
    return event


def _redact_value(value: Any) -> Any:
    if isinstance(value, Mapping):
        return redact_mapping(dict(value))
    if isinstance(value, list | tuple):
        return type(value)(_redact_value(item) for item in value)
    return value


UNKNOWN_FIELD = "(a field not in the contract)"


def error_path(item: Any, own_input: bool = False) -> str:
    """A validation error's location, dotted; an unknown field's name withheld unless the input
    is our own (a configuration file an operator needs told which key is wrong)."""
    parts = [str(part) for part in item.get("loc", ())]
    if item.get("type") == "extra_forbidden" and parts and not own_input:
        # The name of an unknown field is the sender's text, not ours, and may itself be a name
        # or a phone number: say where it was, not what it was called.
        parts[-1] = UNKNOWN_FIELD
    return ".".join(parts) or "(body)"


# pydantic messages of these types quote the input itself (a discriminated union's tag as sent).
QUOTING_MESSAGES = {
    "union_tag_invalid": "the value of the discriminating field is not one of the expected tags",
}


def validation_errors(error: ValidationError, own_input: bool = False) -> list[dict[str, str]]:
    """Each failing field's path and message, never the submitted value (nor a key the sender
    invented)."""
    return [
        {"path": error_path(item, own_input),
         "message": QUOTING_MESSAGES.get(item["type"], item["msg"]), "type": item["type"]}
        for item in error.errors(include_input=False, include_context=False, include_url=False)
    ]  # fmt: skip


def safe_reason(error: BaseException, own_input: bool = False) -> str:
    """A one-line reason fit for a log line or a dead letter. `own_input`: the error is about our
    own configuration, so unknown key names may be told."""
    if isinstance(error, ValidationError):
        parts = [
            f"{item['path']}: {item['message']}" for item in validation_errors(error, own_input)
        ]
        text = f"{len(parts)} invalid field(s): " + "; ".join(parts)
    elif isinstance(error, json.JSONDecodeError):
        # JSONDecodeError's str() is position-only, but its .doc holds the input: never use it.
        text = f"malformed JSON: {error.msg} at line {error.lineno} column {error.colno}"
    elif isinstance(error, UnicodeDecodeError):
        text = f"not UTF-8 text: invalid byte at position {error.start}"
    elif isinstance(error, SAFE_MESSAGE_TYPES):
        text = f"{type(error).__name__}: {error}"
    else:
        # Other exceptions may quote values (KeyError('<a name>'), a database error's
        # parameters): their type is all that is safe to tell.
        text = f"{type(error).__module__}.{type(error).__name__} (message withheld)"
    return text[:MAX_REASON]
