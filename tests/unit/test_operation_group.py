"""Contacts from one police operation share a group key, however the name was typed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.intake.domain import operation_group
from tests.unit.builders import contact_from, example_dict

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("force", "operation", "group"),
    [
        ("NFK", "Op Example", "NFK:example"),
        ("NFK", "op  example", "NFK:example"),
        ("NFK", "OPERATION EXAMPLE", "NFK:example"),
        ("NFK", "Op. Example", "NFK:example"),
        ("nfk", "Example", "NFK:example"),
        ("NFK", "Op Red Kite", "NFK:red-kite"),
        ("SFK", "Op Example", "SFK:example"),
        ("NFK", "Op", None),
        ("NFK", None, None),
    ],
)
def test_operation_group(force: str, operation: str | None, group: str | None) -> None:
    document = example_dict() | {"force_code": force, "operation": operation}
    assert operation_group(contact_from(document, NOW)) == group
