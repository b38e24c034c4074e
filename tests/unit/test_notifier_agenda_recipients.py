"""Who receives a published agenda: the series' roles or named people; nothing else gets through."""

from __future__ import annotations

import pytest

from services.notifier.raising import agenda_recipients


@pytest.mark.parametrize(
    ("wanted", "chosen"),
    [
        (("meeting_coordinator", "head_of_service"), ("meeting_coordinator", "head_of_service")),
        (("person:advisor-day",), ("person:advisor-day",)),
        (("everyone", "meeting_coordinator"), ("meeting_coordinator",)),
        (("everyone",), ("meeting_coordinator",)),
        ((), ("meeting_coordinator",)),
    ],
)
def test_agenda_recipients(wanted: tuple[str, ...], chosen: tuple[str, ...]) -> None:
    assert agenda_recipients(wanted) == chosen
