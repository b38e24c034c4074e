"""The suite-wide message check (tests/support/allow_list.py) itself: it must pass what the
notifier renders and fail anything carrying more."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.notifier.domain import render_message
from services.notifier.policy import load_policy
from shared.rota import ChannelKind
from tests.support.allow_list import allow_listed
from tests.support.system import ROOT

FIELDS = {
    "referral": {"case_reference": "MS-2026-7KQ2M4", "urgency": "priority", "URGENCY": "PRIORITY",
                 "district": "Great Yarmouth", "time": "22:41 27 Nov 2026", "operation": "Op Example"},
    "grouped": {"count": "3", "case_references": "MS-2026-AAAAAA, MS-2026-BBBBBB, MS-2026-CCCCCC",
                "operation": "Op Example", "district": "Norwich"},
    "reminder": {"case_reference": "MS-2026-7KQ2M4", "detail": "safe accommodation was due 10:00 28 Nov 2026 UTC"},
}  # fmt: skip
ACK = {
    "ack_link": "http://127.0.0.1:8002/ack/YWJj.0123456789abcdef0123456789abcdef",
    "ack_code": "K7Q2-M4XD-9BHT",
}


@pytest.mark.parametrize("kind", sorted(FIELDS))
@pytest.mark.parametrize("channel", [ChannelKind.SMS, ChannelKind.EMAIL])
def test_rendered_messages_pass(kind: str, channel: ChannelKind) -> None:
    templates = load_policy(ROOT / "deploy" / "config" / "alerting.yaml").templates[kind]  # type: ignore[index]
    message = render_message(templates, FIELDS[kind] | ACK, channel)
    assert allow_listed(message.title)
    assert allow_listed(message.body)


@pytest.mark.parametrize(
    "leak", ["Ottoline Brackenbury", "+447700900123", "1987-03-14", "kept in a caravan"]
)
def test_a_message_carrying_anything_else_fails(leak: str) -> None:
    templates = load_policy(ROOT / "deploy" / "config" / "alerting.yaml").templates["referral"]
    body = render_message(templates, FIELDS["referral"] | ACK, ChannelKind.EMAIL).body
    assert not allow_listed(body.replace("Police contact:", f"{leak}\nPolice contact:"))
    assert not allow_listed(body + f"\n{leak}")


def test_unrelated_text_fails() -> None:
    assert not allow_listed(f"Alert raised {datetime(2026, 1, 1, tzinfo=UTC)}")
