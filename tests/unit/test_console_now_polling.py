"""Now's open-alert list, as the page polls it, without a network: the console's own router in
front of a fake notifier that answers `/v1/alerts` as the real one does, with the console's clock
moved by hand.

The poll is answered 204 when the list the page holds is the list it would get, so htmx leaves the
page alone (the button under a finger stays the same element, and a screen reader's live region
does not read the list again). That only works if the list shows nothing that changes with time
alone: with ages ("12 min ago"), each row ticked over at its own second, and with 30 alerts open
the list differed at nearly every 2 s poll though no alert had changed."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from services.console import alerts_page, web
from services.console.backends import Backends
from services.console.web import clock
from shared.staff_auth import StaffRole
from tests.support.console_app import ORIGIN, console_app

T0 = datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC)  # December: London is on UTC
OPEN = 30
POLL_SECONDS = 2


def alert(raised: datetime, steps_fired: int = 1) -> dict[str, Any]:
    """One open alert as the notifier's AlertSummary serialises it."""
    return {
        "alert_id": str(uuid.uuid4()), "kind": "referral", "case_reference": None,
        "case_references": [f"NSP-{uuid.uuid4().hex[:8]}"], "urgency": "priority",
        "status": "open", "raised_at": raised.isoformat(), "acknowledged_at": None,
        "acknowledged_by": None, "steps_fired": steps_fired, "paged_person_ids": ["advisor-a"],
        "next_step_at": (raised + timedelta(minutes=10 * steps_fired)).isoformat(),
    }  # fmt: skip


class Clock(datetime):
    """The console's `datetime` with a hand-moved now (web.age and web.clock read datetime.now)."""

    current = T0

    @classmethod
    def now(cls, tz: Any = None) -> Clock:
        return cls.current.astimezone(tz)  # type: ignore[return-value]


@pytest.fixture
def polling(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, list[dict[str, Any]]]]:
    """The signed-in advisor's client and the notifier's open alerts (change them in place): 30
    raised at 13 s apart over the last six and a half minutes, and one raised yesterday."""
    monkeypatch.setenv("SAFEGUARDING_ENV", "test")
    monkeypatch.setenv("STAFF_OIDC_ISSUER", "http://127.0.0.1:8080/realms/safeguarding")
    monkeypatch.setattr(web, "datetime", Clock)
    monkeypatch.setattr(Clock, "current", T0)
    open_alerts = [alert(T0 - timedelta(seconds=7 + 13 * i)) for i in range(OPEN)]
    open_alerts.append(alert(datetime(2026, 11, 30, 23, 10, 41, tzinfo=UTC), steps_fired=4))

    def notifier(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/alerts", request.url
        assert request.url.params["status"] == "open"
        return httpx.Response(200, json={"alerts": open_alerts, "total": len(open_alerts)})

    backends = Backends({"notifier": "http://nt"}, 5)
    backends.client = httpx.AsyncClient(transport=httpx.MockTransport(notifier))
    made = console_app(backends, (alerts_page,))
    session = made.sign_in("advisor-day", "token", StaffRole.ADVISOR)
    with TestClient(made.app, base_url=ORIGIN, follow_redirects=False) as client:
        client.cookies.set(made.console.cookie_name, session.id)
        yield client, open_alerts


def poll(client: TestClient, seen: str) -> httpx.Response:
    answer: httpx.Response = client.get(
        "/now/alerts", params={"seen": seen}, headers={"HX-Request": "true"}
    )
    return answer


def digest_of(fragment: httpx.Response) -> str:
    assert fragment.status_code == 200, fragment.status_code
    found = re.search(r'hx-get="/now/alerts\?seen=([0-9a-f]+)"', fragment.text)
    assert found, "the fragment carries its own polling URL"
    return found.group(1)


def test_a_list_no_alert_of_which_changed_is_answered_204_at_every_poll_for_two_minutes(
    polling: tuple[TestClient, list[dict[str, Any]]],
) -> None:
    client, _ = polling
    first = poll(client, "")
    seen = digest_of(first)
    # Each alert shows the London clock time it was raised, today's without a date.
    assert '<time datetime="2026-12-01T09:59:53+00:00">09:59</time>' in first.text
    assert ">30 Nov 23:10</time>" in first.text
    assert " ago" not in first.text
    statuses = []
    for step in range(1, 61):  # 60 polls, 2 s apart: past every alert's next minute, twice
        Clock.current = T0 + timedelta(seconds=POLL_SECONDS * step)
        statuses.append(poll(client, seen).status_code)
    assert statuses == [204] * 60, statuses


def test_a_real_change_is_answered_with_the_new_list_and_its_new_digest(
    polling: tuple[TestClient, list[dict[str, Any]]],
) -> None:
    client, open_alerts = polling
    seen = digest_of(poll(client, ""))
    assert poll(client, seen).status_code == 204

    escalated = open_alerts[3]
    escalated["steps_fired"] = 2
    escalated["next_step_at"] = (T0 + timedelta(minutes=5)).isoformat()
    changed = poll(client, seen)
    after_escalation = digest_of(changed)
    assert after_escalation != seen
    assert "step 2, next at 10:05" in changed.text
    assert poll(client, after_escalation).status_code == 204

    open_alerts.insert(0, alert(T0 + timedelta(seconds=1)))
    with_new_alert = digest_of(poll(client, after_escalation))
    assert with_new_alert != after_escalation

    # At London's midnight the day's times gain their date: a real change of what they say.
    Clock.current = datetime(2026, 12, 2, 0, 0, 1, tzinfo=UTC)
    tomorrow = poll(client, with_new_alert)
    assert digest_of(tomorrow) != with_new_alert
    assert ">1 Dec 09:59</time>" in tomorrow.text


@pytest.mark.parametrize(
    ("raised", "now", "shown"),
    [
        ("2026-12-01T10:03:59+00:00", T0, "10:03"),  # GMT
        ("2026-07-01T13:03:00Z", datetime(2026, 7, 1, 20, 0, tzinfo=UTC), "14:03"),  # BST
        # 23:30 UTC is already the next day in London in summer: today there, so no date.
        ("2026-07-01T23:30:00+00:00", datetime(2026, 7, 2, 8, 0, tzinfo=UTC), "00:30"),
        ("2026-07-01T22:59:00+00:00", datetime(2026, 7, 2, 8, 0, tzinfo=UTC), "1 Jul 23:59"),
        ("2026-01-09T08:05:00+00:00", T0, "9 Jan 08:05"),
        (None, T0, ""),
    ],
)
def test_a_time_is_shown_as_london_reads_it(raised: str | None, now: datetime, shown: str) -> None:
    assert clock(raised, now) == shown
