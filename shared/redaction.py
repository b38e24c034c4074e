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


def validation_errors(error: ValidationError) -> list[dict[str, str]]:
    """Each failing field's path and message, never the submitted value."""
    return [
        {"path": ".".join(str(part) for part in item["loc"]) or "(body)", "message": item["msg"],
         "type": item["type"]}
        for item in error.errors(include_input=False, include_context=False, include_url=False)
    ]  # fmt: skip


def safe_reason(error: BaseException) -> str:
    """A one-line reason fit for a log line or a dead letter."""
    if isinstance(error, ValidationError):
        parts = [f"{item['path']}: {item['message']}" for item in validation_errors(error)]
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
