"""Drawing an agenda PDF takes tenths of a second of CPU (over a second the first time, with the
fonts), and the meeting scheduler draws one for the API and for each publication. It draws off
its event loop, so the loop keeps consuming and answering meanwhile: measured here as the longest
pause of a 5 ms ticker on the same loop, against how long the drawing took.

The heap is frozen first, as a started service's is (shared/startup_heap.py): pytest's heap, with
every test module loaded, would otherwise make a full garbage collection in the middle of a drawing
stop every thread for tenths of a second, which is not what this test is about."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from faststream import AckPolicy, TestApp
from faststream.kafka import TestKafkaBroker

from services.meeting_scheduler.main import create_app as create_scheduler
from services.meeting_scheduler.settings import SchedulerSettings
from shared.clock import FixedClock
from shared.topics import AGENDA, REFERRALS
from tests.support.events import referral
from tests.support.signing import publish_signed
from tests.support.system import TEST_SETTINGS_MEETINGS
from tests.support.waiting import eventually, wait_until

MEETING = "/v1/meetings/case-panel/2026-12-02"
AUTH = {"Authorization": "Bearer test-token-coordinator"}
CASES = (
    60  # enough rows that a drawing is long next to the loop's own pauses, on a faster machine too
)


@pytest.fixture
def startup_heap_frozen() -> Iterator[None]:
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


@asynccontextmanager
async def longest_pause() -> AsyncIterator[list[float]]:
    """Yields a list whose one item is, once the block ends, the longest time the event loop went
    without running a task that only sleeps 5 ms at a time."""
    found = [0.0]
    stop = asyncio.Event()

    async def tick() -> None:
        while not stop.is_set():
            before = time.monotonic()
            await asyncio.sleep(0.005)
            found[0] = max(found[0], time.monotonic() - before)

    ticker = asyncio.create_task(tick())
    try:
        yield found
    finally:
        stop.set()
        await ticker


@dataclass
class Scheduler:
    client: httpx.AsyncClient
    clock: FixedClock
    versions: list[int]  # the agenda versions published, as the probe consumer read them


@asynccontextmanager
async def scheduler_with(
    tmp_path: Path, references: list[str], publish_poll_seconds: float
) -> AsyncIterator[Scheduler]:
    """The meeting scheduler in-process, with these cases on its next case panel's agenda."""
    clock = FixedClock(datetime(2026, 11, 29, 12, 0, tzinfo=UTC))
    app = create_scheduler(
        SchedulerSettings(SAFEGUARDING_ENV="test", verify_topics_on_start=False, outbox_poll_seconds=0.1,
                          publish_poll_seconds=publish_poll_seconds,
                          database_url=f"sqlite+aiosqlite:///{tmp_path}/m.sqlite3", **TEST_SETTINGS_MEETINGS),
        clock,
    )  # fmt: skip
    broker = app.kafka_broker
    versions: list[int] = []

    @broker.subscriber(AGENDA.name, group_id="probe", ack_policy=AckPolicy.ACK)
    async def on_agenda(body: dict[str, Any]) -> None:
        if body["event_type"] == "agenda.published.v1":
            versions.append(body["version"])

    async with TestKafkaBroker(broker), TestApp(app):
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app.http_app), base_url="http://m", headers=AUTH
        )
        for reference in references:
            await publish_signed(broker, referral(reference, clock.now()), REFERRALS.name)
        await eventually(
            lambda: client.get(f"{MEETING}/agenda.md"),
            lambda answer: all(reference in answer.text for reference in references),
            what=f"the {len(references)} cases on the agenda",
        )
        yield Scheduler(client, clock, versions)


@pytest.mark.usefixtures("startup_heap_frozen")
async def test_the_loop_keeps_turning_while_an_agenda_is_drawn(tmp_path: Path) -> None:
    references = [f"MS-2026-DRAW{number:02d}" for number in range(CASES)]
    async with scheduler_with(tmp_path, references, publish_poll_seconds=0.1) as running:
        client, clock, versions = running.client, running.clock, running.versions
        drawings: list[tuple[float, float]] = []  # (how long the request took, longest pause)
        for _ in range(2):  # the first draw loads the fonts as well
            async with longest_pause() as pause:
                started = time.monotonic()
                answer = await client.get(f"{MEETING}/agenda.pdf")
                took = time.monotonic() - started
            assert answer.status_code == 200
            assert answer.content.startswith(b"%PDF-")
            drawings.append((took, pause[0]))
        print(f"\nagenda.pdf requests (took s, longest loop pause s): {drawings}")
        warm_drawing = drawings[1][0]
        # The test can tell only if drawing takes much longer than a pause the loop has anyway.
        assert warm_drawing > 0.15, f"the drawing took {warm_drawing:.3f}s: too short to tell"
        # On the loop, a drawing stops it for nearly the whole request (0.93 s of 0.95 s).
        for took, paused in drawings:
            assert paused < took / 2, f"the loop stopped {paused:.3f}s of a {took:.3f}s request"

        async with longest_pause() as pause:
            clock.advance(timedelta(hours=22))  # publication time: the publisher draws the PDF
            await wait_until(lambda: versions == [1], within=15, what="the first publication")
        print(f"publication: longest loop pause {pause[0]:.3f}s")
        assert pause[0] < warm_drawing / 2, f"the loop stopped {pause[0]:.3f}s while publishing"


async def test_two_presses_of_publish_write_one_version(tmp_path: Path) -> None:
    """The button pressed twice at once (or pressed as the automatic pass runs): the drawing
    leaves the event loop free between reading the last version and writing the next, so without
    one publication at a time both would read "none yet" and both try to write version 1."""
    writes: list[str] = []

    def count_writes(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO AGENDA_PUBLICATIONS"):
            writes.append(statement)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", count_writes)
    try:
        async with scheduler_with(
            tmp_path, ["MS-2026-PRESS1"], publish_poll_seconds=3600
        ) as running:
            client = running.client
            answers = await asyncio.gather(*(client.post(f"{MEETING}/publish") for _ in range(2)))
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", count_writes)
    assert [answer.status_code for answer in answers] == [200, 200], [a.text for a in answers]
    assert [answer.json()["published_version"] for answer in answers] == [1, 1]
    assert len(writes) == 1, f"{len(writes)} attempts to write a version: only one may be made"
