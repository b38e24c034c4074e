"""The rota import as deployed (on SQLite and PostgreSQL, the session broker): the notifier imports
a calendar feed served by a real HTTP server periodically, follows the feed when an event moves or
is deleted, and the head of service imports a calendar through POST /v1/rota/imports.

The shipped rota (deploy/config/rota.yaml): advisor-day 08:00-20:00, advisor-night 20:00-08:00,
head-of-service the last resort. Now is Tuesday 1 December 2026, 10:00 (GMT: London is UTC)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from services.notifier.main import create_app as create_notifier
from services.notifier.settings import NotifierSettings
from shared.clock import LONDON, FixedClock
from tests.support import system
from tests.support.databases import DatabaseUrls
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

HEAD = {"Authorization": "Bearer test-token-head"}
ADVISOR = {"Authorization": "Bearer test-token-advisor-day"}
CALENDAR = {"content-type": "text/calendar; charset=utf-8"}

LEAVE_THURSDAY = """BEGIN:VEVENT
UID:leave-1@cal.example
DTSTAMP:20261120T000000Z
SUMMARY:Leave advisor-day
DTSTART;VALUE=DATE:20261203
END:VEVENT"""
COVER_SATURDAY = """BEGIN:VEVENT
UID:cover-1@cal.example
DTSTAMP:20261120T000000Z
SUMMARY:Cover head-of-service
DTSTART;TZID=Europe/London:20261205T100000
DTEND;TZID=Europe/London:20261205T120000
END:VEVENT"""


def calendar(*events: str) -> bytes:
    body = "\r\n".join(events)
    return (
        f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//rota//EN\r\n{body}\r\nEND:VCALENDAR\r\n"
    ).encode()


@contextmanager
def feed_server(served: dict[str, bytes]) -> Iterator[str]:
    """A real HTTP server answering GET /rota.ics with whatever `served["ics"]` holds now."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = served["ics"]
            self.send_response(200 if self.path == "/rota.ics" else 404)
            self.send_header("Content-Type", "text/calendar")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/rota.ics"
    finally:
        server.shutdown()
        server.server_close()


async def test_feed_and_upload_keep_the_rota_as_the_calendar_says(
    kafka_bootstrap: str, topic_prefix: str, database_urls: DatabaseUrls
) -> None:
    clock = FixedClock(datetime(2026, 12, 1, 10, 0, tzinfo=LONDON))
    url = await database_urls.new("notifier")
    served = {"ics": calendar(LEAVE_THURSDAY, COVER_SATURDAY)}
    with feed_server(served) as feed:
        settings = NotifierSettings(
            **system.common(kafka_bootstrap, topic_prefix, url),
            **system.TEST_SETTINGS_NOTIFIER
            | {
                "staff_tokens": {
                    "head-of-service": "test-token-head",
                    "advisor-day": "test-token-advisor-day",
                },
                "rota_calendars": {"team": feed},
                "rota_calendar_poll_seconds": 0.3,
            },
        )
        async with AsyncExitStack() as stack:
            running = await system.start(stack, {"notifier": create_notifier(settings, clock)})
            client = running.client("notifier")

            async def changes() -> list[tuple[str, str, str, str, str]]:
                listed = (await client.get("/v1/rota/changes")).json()["changes"]
                return sorted(
                    (c["source"], c["kind"], c["person_id"], c["starts_at"], c["ends_at"])
                    for c in listed
                )

            async def paged(day: str, hour: str) -> str | None:
                """Who the rota view says is paged on `day` (London) at `hour` (GMT: UTC)."""
                view = (await client.get("/v1/rota", params={"start": day, "days": 1})).json()
                [period] = [
                    p for p in view["days"][0]["periods"]
                    if p["start"] <= f"{day}T{hour}:00Z" < p["end"]
                ]  # fmt: skip
                return period["person_id"]  # type: ignore[no-any-return]

            # The feed is imported at start: Thursday's leave, Saturday's cover.
            imported = [
                ("calendar", "cover", "head-of-service", "2026-12-05T10:00:00Z",
                 "2026-12-05T12:00:00Z"),
                ("calendar", "leave", "advisor-day", "2026-12-03T00:00:00Z",
                 "2026-12-04T00:00:00Z"),
            ]  # fmt: skip
            await eventually(changes, lambda found: found == imported, what="the feed imported")
            assert await paged("2026-12-03", "10:00") is None  # a gap: the last resort is paged
            assert await paged("2026-12-05", "11:00") == "head-of-service"
            hand = await client.post(
                "/v1/rota/changes",
                json={"kind": "cover", "person_id": "advisor-night",
                      "starts_at": "2026-12-06T10:00:00Z", "ends_at": "2026-12-06T12:00:00Z"},
            )  # fmt: skip
            assert hand.status_code == 201, hand.text

            # The leave moves to Friday, the cover is deleted: the next import follows.
            served["ics"] = calendar(LEAVE_THURSDAY.replace("20261203", "20261204"))
            following = [
                ("calendar", "leave", "advisor-day", "2026-12-04T00:00:00Z",
                 "2026-12-05T00:00:00Z"),
                ("console", "cover", "advisor-night", "2026-12-06T10:00:00Z",
                 "2026-12-06T12:00:00Z"),
            ]  # fmt: skip
            await eventually(changes, lambda found: found == following, what="the feed followed")
            assert await paged("2026-12-03", "10:00") == "advisor-day"
            assert await paged("2026-12-04", "10:00") is None
            assert await paged("2026-12-05", "11:00") == "advisor-day"

            # The head of service uploads the same calendar under the feed's label: nothing to do.
            upload = await client.post(
                "/v1/rota/imports", params={"source": "team"}, headers=CALENDAR,
                content=served["ics"],
            )  # fmt: skip
            assert upload.status_code == 200, upload.text
            assert upload.json() == {
                "source": "team", "dry_run": False, "added": 0, "updated": 0, "removed": 0,
                "unchanged": 1, "ignored": 0, "kept_removed": 0, "not_taken": [],
            }  # fmt: skip
            # Under its own label, a dry run: the cover would be added, the unknown person not.
            unknown = COVER_SATURDAY.replace("cover-1", "x-1").replace("head-of-service", "bob")
            dry = await client.post(
                "/v1/rota/imports", params={"dry_run": "true"}, headers=CALENDAR,
                content=calendar(COVER_SATURDAY, unknown),
            )  # fmt: skip
            assert (dry.json()["added"], dry.json()["not_taken"]) == (
                1, [{"event": "x-1@cal.example",
                     "reason": "the person id after Leave or Cover is nobody on the rota"}],
            )  # fmt: skip
            refusals = [
                await client.post("/v1/rota/imports", headers=CALENDAR, content=b"not a calendar"),
                await client.post("/v1/rota/imports", json={"calendar": "no"}),
                await client.post(
                    "/v1/rota/imports", headers={**CALENDAR, **ADVISOR}, content=served["ics"]
                ),
                await httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=running.apps["notifier"].http_app),
                    base_url="http://notifier",
                ).post("/v1/rota/imports", headers=CALENDAR, content=served["ics"]),
            ]
            assert [(r.status_code, r.headers["content-type"]) for r in refusals] == [
                (422, "application/problem+json"),
                (415, "application/problem+json"),
                (403, "application/problem+json"),
                (401, "application/problem+json"),
            ]
            assert refusals[0].json()["detail"] == "the text is not an iCalendar calendar"
            assert await changes() == following  # the dry run and the refusals stored nothing
