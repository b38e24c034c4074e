"""The periodic import of calendar feeds: one feed failing, however it fails, leaves the feeds
after it imported in the same pass."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from services.notifier import rota_feeds
from services.notifier.rota_calendar import CalendarUnreadable
from services.notifier.rota_feeds import CalendarFeeds, FeedProblem
from shared.clock import FixedClock


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(FeedProblem("the calendar URL answered HTTP 500"), id="fetch"),
        pytest.param(CalendarUnreadable("not a calendar"), id="unreadable"),
        pytest.param(OperationalError("INSERT …", {}, Exception("database is locked")), id="db"),
        pytest.param(RuntimeError("an icalendar surprise"), id="anything_else"),
    ],
)
async def test_a_failing_feed_leaves_the_later_ones_imported(
    failure: Exception, monkeypatch: pytest.MonkeyPatch
) -> None:
    imported: list[str] = []

    async def fetch(url: str) -> bytes:
        return url.encode()

    async def import_calendar(book: Any, engine: Any, text: bytes, actor: Any, label: str,
                              *, window: timedelta) -> Any:  # fmt: skip
        if label == "first":
            raise failure
        imported.append(label)
        return _Summary()

    monkeypatch.setattr(rota_feeds, "fetch_calendar", fetch)
    monkeypatch.setattr(rota_feeds, "import_calendar", import_calendar)
    feeds = {"first": "https://a.example/1.ics", "second": "https://b.example/2.ics",
             "third": "https://c.example/3.ics"}  # fmt: skip
    clock = FixedClock(datetime(2026, 6, 10, 12, tzinfo=UTC))
    await CalendarFeeds(feeds, None, None, clock, timedelta(days=90)).import_all()  # type: ignore[arg-type]
    assert imported == ["second", "third"]


class _Summary:
    added = updated = removed = 0
    problems = ()
