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

PERSONAL_KEYS = frozenset(
    {
        "name", "date_of_birth", "dob", "phone", "email", "address", "postcode", "nationality",
        "notes", "person", "officer", "body", "payload", "message_body", "languages", "gender",
    }
)  # fmt: skip
REDACTED = "[redacted]"
MAX_REASON = 1000


def redact_mapping(event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        if key.lower() in PERSONAL_KEYS:
            event[key] = REDACTED
        elif isinstance(event[key], Mapping):
            event[key] = redact_mapping(dict(event[key]))
    return event


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
    else:
        text = f"{type(error).__name__}: {error}"
    return text[:MAX_REASON]
