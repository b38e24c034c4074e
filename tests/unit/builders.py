"""Small builders shared by the unit tests: the documented example contact, as a dict to edit."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from services.intake.contract import PoliceContactV1, parse_contact

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_CONTACT = ROOT / "docs" / "examples" / "police-contact.v1.json"
ROTA_FILE = ROOT / "deploy" / "config" / "rota.yaml"
MEETINGS_FILE = ROOT / "deploy" / "config" / "meetings.yaml"

_EXAMPLE: dict[str, Any] = json.loads(EXAMPLE_CONTACT.read_text())


def example_dict() -> dict[str, Any]:
    """A fresh, deep copy of the example contact, safe to modify."""
    return copy.deepcopy(_EXAMPLE)


def contact_from(document: dict[str, Any], now: datetime) -> PoliceContactV1:
    return parse_contact(json.dumps(document), now)
