"""The fault tests' account of a message sent twice (tests/support/ground_truth.py): a duplicate
after an attempt that waited out the provider timeout is the notifier's at-least-once promise;
any other fails the test, naming the case and each attempt of its notifications."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from services.notifier.adapters.tables import alerts, delivery_attempts, metadata, notifications
from tests.support.ground_truth import Tally, assert_no_message_duplicates, duplicate_evidence

AT = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)
LATE, TWICE = "MSA-2026-000001", "MSA-2026-000002"


def attempt(notification: str, number: int, outcome: str, latency_ms: int) -> dict[str, object]:
    return {"notification_id": notification, "channel": "sms", "attempt": number,
            "outcome": outcome, "latency_ms": latency_ms,
            "attempted_at": AT + timedelta(seconds=number)}  # fmt: skip


async def notifier_database(folder: Path) -> str:
    """Two cases, each with one SMS notification: LATE's first attempt timed out (4012 ms) and its
    second was delivered; TWICE's was recorded delivered twice, as two processes sending it would."""
    url = f"sqlite+aiosqlite:///{folder / 'notifier.sqlite3'}"
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
        for number, case in enumerate((LATE, TWICE)):
            await connection.execute(alerts.insert().values(
                alert_id=f"alert-{number}", kind="referral", subject_key=case, case_reference=case,
                urgency="immediate", status="open", fields="{}", correlation_id="c", raised_at=AT,
            ))  # fmt: skip
            await connection.execute(notifications.insert().values(
                notification_id=f"sms-{number}-0000", alert_id=f"alert-{number}", step=0,
                person_id="advisor-a", channel="sms", ack_code=f"12345{number}", status="delivered",
                attempts=2, next_attempt_at=AT, created_at=AT,
            ))  # fmt: skip
        await connection.execute(delivery_attempts.insert(), [
            attempt("sms-0-0000", 1, "failed", 4012), attempt("sms-0-0000", 2, "delivered", 31),
            attempt("sms-1-0000", 1, "delivered", 40), attempt("sms-1-0000", 2, "delivered", 35),
        ])  # fmt: skip
    await engine.dispose()
    return url


async def test_a_duplicate_after_a_provider_timeout_is_allowed_and_counted(tmp_path: Path) -> None:
    urls = {"notifier": await notifier_database(tmp_path)}
    found = Tally(acknowledged=2)
    found.sms[LATE], found.emails[LATE] = 2, 1
    assert await assert_no_message_duplicates(urls, found) == 1


async def test_any_other_duplicate_fails_with_each_attempt(tmp_path: Path) -> None:
    urls = {"notifier": await notifier_database(tmp_path)}
    found = Tally(acknowledged=2)
    found.sms[LATE], found.sms[TWICE], found.emails[TWICE] = 2, 2, 2
    with pytest.raises(AssertionError, match=r"provider duplicates 3, 2 not after a provider ti"):
        await assert_no_message_duplicates(urls, found)
    lines = await duplicate_evidence(urls, found)
    assert lines[:2] == [f"{LATE}: 2 SMS, 0 emails", f"{TWICE}: 2 SMS, 2 emails"]
    assert len(lines) == 6  # and the four attempts, in time order
    assert (
        f"{LATE} referral step 0 advisor-a sms (delivered, sms-0-00): attempt 1 failed in 4012 ms"
        in lines[2]
    )
    assert lines[3].endswith("attempt 1 delivered in 40 ms at 2026-12-02 06:00:01+00:00")


async def test_no_duplicate_asks_the_database_nothing() -> None:
    found = Tally(acknowledged=1)
    found.sms[LATE] = 1
    # No notifier database at all: a case messaged once needs no account.
    assert await duplicate_evidence({}, found) == []
    assert await assert_no_message_duplicates({}, found) == 0
