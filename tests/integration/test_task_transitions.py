"""Task status changes through casework's API, on SQLite and PostgreSQL: a closed task cannot be
started or reopened, a referred one can only be closed as done, a refused change leaves the task,
its history and the tasks topic as they were, and each close publishes one TaskClosedV1."""

from __future__ import annotations

import json
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from shared.events import NrmConsent, Pathway, SupportNeed
from shared.topics import REFERRALS, TASKS
from tests.support import system
from tests.support.databases import DatabaseUrls
from tests.support.events import referral
from tests.support.kafka import produce, wait_for_records
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


async def change(client: httpx.AsyncClient, task_id: str, **body: Any) -> int:
    return (await client.post(f"/v1/tasks/{task_id}/status", json=body)).status_code


async def test_status_transitions_through_the_api(
    kafka_bootstrap: str, topic_prefix: str, database_urls: DatabaseUrls
) -> None:
    event = referral(
        "MS-2026-STATE1", datetime.now(UTC), pathway=Pathway.NRM, nrm_consent=NrmConsent.GIVEN,
        support_needs=(SupportNeed.HEALTHCARE, SupportNeed.HOUSING),
    )  # fmt: skip
    async with AsyncExitStack() as stack:
        running = await system.start_services(
            stack, kafka_bootstrap, topic_prefix, database_urls, names=("casework",)
        )
        head = running.client("casework")
        await produce(kafka_bootstrap, REFERRALS.full_name(topic_prefix),
                      event.model_dump_json().encode(), key=b"MS-2026-STATE1")  # fmt: skip
        listed = await eventually(
            lambda: head.get("/v1/cases/MS-2026-STATE1/tasks"),
            lambda r: len(r.json()) == 3,
            what="three tasks",
        )
        task = {t["kind"]: t["task_id"] for t in listed.json()}
        healthcare, housing, first = task["healthcare"], task["housing"], task["first_contact"]

        # Done is final: not started again, not reopened, not done twice.
        assert await change(head, healthcare, status="in_progress") == 200
        assert await change(head, healthcare, status="done", outcome="registered with a GP") == 200
        assert await change(head, healthcare, status="in_progress") == 409
        assert await change(head, healthcare, status="open") == 409
        assert await change(head, healthcare, status="done") == 409
        state = (await head.get(f"/v1/tasks/{healthcare}")).json()
        assert (state["status"], state["detail"]) == ("done", "registered with a GP")
        history = (await head.get(f"/v1/tasks/{healthcare}/history")).json()
        assert [(h["change"], h["from_value"], h["to_value"]) for h in history] == [
            ("opened", None, "open"),
            ("status", "open", "in_progress"),
            ("status", "in_progress", "done"),
        ]

        # Referred: waiting on the organisation; only its outcome (done) closes it.
        assert await change(head, housing, status="referred", organisation="housing_options") == 200
        assert await change(head, housing, status="in_progress") == 409
        assert await change(head, housing, status="not_needed", reason="found a room") == 409
        assert await change(head, housing, status="done", outcome="council tenancy") == 200
        state = (await head.get(f"/v1/tasks/{housing}")).json()
        assert (state["status"], state["organisation"]) == ("done", "housing_options")

        # Not needed needs a reason, and is final too.
        assert await change(head, first, status="not_needed") == 409
        assert await change(head, first, status="not_needed", reason="seen by police") == 200
        assert await change(head, first, status="open") == 409

        # The referral's three tasks in one TasksOpenedV1, then the four closes.
        records = await wait_for_records(kafka_bootstrap, TASKS.full_name(topic_prefix), 1 + 4)
    events = [json.loads(r.value) for r in records]
    opened = [e["tasks"] for e in events if e["event_type"] == "tasks.opened.v1"]
    assert [sorted(t["kind"] for t in group) for group in opened] == [
        ["first_contact", "healthcare", "housing"]
    ]
    closed = [(e["kind"], e["status"]) for e in events if e["event_type"] == "task.closed.v1"]
    assert sorted(closed) == [
        ("first_contact", "not_needed"),
        ("healthcare", "done"),
        ("housing", "done"),
        ("housing", "referred"),
    ]
