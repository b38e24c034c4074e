"""Casework's directory of local services through its API, on a real SQLite database (the broker
in memory): seeded from the YAML file, filtered by need and district, a task's suggestions by its
case's district ("all" included; "all" only for a case with no district), the review flag by the
service clock, edits by the head of service only, retiring, and the seeding rule on a restart.

Expected organisations are computed here from the YAML file read as plain data, never through
the code under test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import yaml
from faststream import TestApp
from faststream.kafka import KafkaBroker, TestKafkaBroker

from services.casework.main import create_app as create_casework
from services.casework.settings import CaseworkSettings
from shared.clock import FixedClock
from shared.db import create_engine
from shared.events import District, SupportNeed
from shared.topics import REFERRALS
from tests.support.events import referral
from tests.support.signing import publish_signed
from tests.support.system import ROOT, STAFF_TOKENS, TEST_SETTINGS_CASEWORK

MONDAY = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)  # London 30 Nov 2026
HEAD = {"Authorization": f"Bearer {STAFF_TOKENS['head-of-service']}"}
ADVISOR = {"Authorization": f"Bearer {STAFF_TOKENS['advisor-day']}"}
DIRECTORY = yaml.safe_load((ROOT / "deploy" / "config" / "services-directory.yaml").read_text())
NEW_ENTRY: dict[str, Any] = {
    "name": "Aardvark Tenancy Rescue",
    "needs": ["housing"],
    "districts": ["norwich"],
    "how_to_refer": [{"method": "email", "contact": "refer@aardvark-tenancy.example"}],
    "eligibility": "No recourse to public funds accepted.",
    "opening_hours": "Mon-Fri 09:00-17:00",
    "review_date": "2026-11-30",
}


def expected(need: str, district: str | None) -> list[str]:
    """The file's organisations meeting `need` in `district`, by name, from the file alone."""
    names = [
        entry["name"]
        for entry in DIRECTORY["entries"]
        if need in entry["needs"]
        and (
            "all" in entry["districts"] or (district is not None and district in entry["districts"])
        )
    ]
    return sorted(names, key=str.casefold)


def overdue_ids(today: date) -> set[str]:
    return {entry["id"] for entry in DIRECTORY["entries"] if entry["review_date"] < today}


@dataclass
class Casework:
    broker: KafkaBroker
    client: httpx.AsyncClient
    clock: FixedClock
    database_url: str

    async def get(self, url: str, headers: dict[str, str] = HEAD, **params: Any) -> Any:
        response = await self.client.get(url, params=params, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    async def delete(self, entry_id: str, headers: dict[str, str]) -> int:
        response = await self.client.delete(f"/v1/directory/{entry_id}", headers=headers)
        return response.status_code

    async def task(self, case: str, kind: str) -> dict[str, Any]:
        found: list[dict[str, Any]] = await self.get(f"/v1/cases/{case}/tasks")
        return next(task for task in found if task["kind"] == kind)

    async def suggestions(self, case: str, kind: str) -> dict[str, Any]:
        task = await self.task(case, kind)
        found: dict[str, Any] = await self.get(f"/v1/tasks/{task['task_id']}/suggestions")
        return found


async def start(stack: AsyncExitStack, database_url: str, clock: FixedClock) -> Casework:
    settings = CaseworkSettings(
        **{**TEST_SETTINGS_CASEWORK, "chase_poll_seconds": 3600.0},
        SAFEGUARDING_ENV="test", verify_topics_on_start=False, outbox_poll_seconds=0.2,
        database_url=database_url,
    )  # fmt: skip
    app = create_casework(settings, clock)
    await stack.enter_async_context(TestKafkaBroker(app.kafka_broker))
    await stack.enter_async_context(TestApp(app))
    client = await stack.enter_async_context(
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app.http_app), base_url="http://c")
    )
    return Casework(app.kafka_broker, client, clock, database_url)


@pytest.fixture
async def casework(tmp_path: Path) -> AsyncIterator[Casework]:
    async with AsyncExitStack() as stack:
        yield await start(stack, f"sqlite+aiosqlite:///{tmp_path}/c.sqlite3", FixedClock(MONDAY))


async def open_case(casework: Casework, case: str, district: District | None) -> None:
    needs = (SupportNeed.HOUSING, SupportNeed.LEGAL_ADVICE)
    event = referral(case, MONDAY, district=district or District.NORWICH, support_needs=needs)
    await publish_signed(casework.broker, event, REFERRALS.name)
    if district is None:  # a case opened before casework kept districts
        engine = create_engine(casework.database_url)
        async with engine.begin() as connection:
            await connection.execute(
                sa.text("UPDATE cases SET district = NULL WHERE case_reference = :case"),
                {"case": case},
            )
        await engine.dispose()


async def test_directory_lists_filters_and_flags_reviews(casework: Casework) -> None:
    listed = await casework.get("/v1/directory", headers=ADVISOR)
    assert {entry["id"] for entry in listed} == {entry["id"] for entry in DIRECTORY["entries"]}
    assert [e["name"] for e in listed] == sorted((e["name"] for e in listed), key=str.casefold)
    # Review dates against today in London (30 Nov 2026): only those strictly before are flagged.
    flagged = {entry["id"] for entry in listed if entry["review_overdue"]}
    assert flagged == overdue_ids(date(2026, 11, 30))
    assert flagged
    filtered = await casework.get("/v1/directory", need="housing", district="breckland")
    assert [entry["name"] for entry in filtered] == expected("housing", "breckland")
    one = await casework.get("/v1/directory/salvation-army-victim-care", headers=ADVISOR)
    assert one["districts"] == ["all"]
    assert one["updated_by"] == "directory-file"
    assert one["how_to_refer"][0]["method"] == "phone"

    # A month on (1 Jan 2027, London), entries due by 31 Dec 2026 are flagged too.
    casework.clock.advance(timedelta(days=32))
    later = await casework.get("/v1/directory")
    assert {e["id"] for e in later if e["review_overdue"]} == overdue_ids(date(2027, 1, 1))
    assert overdue_ids(date(2027, 1, 1)) > flagged


async def test_a_need_task_suggests_by_its_case_s_district(casework: Casework) -> None:
    await open_case(casework, "MS-2026-DIR001", District.BRECKLAND)
    await open_case(casework, "MS-2026-DIR002", District.OUTSIDE_NORFOLK)
    await open_case(casework, "MS-2026-DIR003", None)

    breckland = await casework.suggestions("MS-2026-DIR001", "housing")
    assert breckland["district"] == "breckland"
    assert breckland["matched_on"] == "district"
    names = [entry["name"] for entry in breckland["organisations"]]
    assert names == expected("housing", "breckland")
    assert len(names) >= 2  # a district entry and an "all" entry: both rules are exercised
    legal = await casework.suggestions("MS-2026-DIR001", "legal_advice")
    assert [e["name"] for e in legal["organisations"]] == expected("legal_advice", "breckland")

    outside = await casework.suggestions("MS-2026-DIR002", "housing")
    assert [e["name"] for e in outside["organisations"]] == expected("housing", "outside_norfolk")

    unknown = await casework.suggestions("MS-2026-DIR003", "housing")
    assert unknown["district"] is None
    assert unknown["matched_on"] == "all_only"
    assert "not recorded" in unknown["note"]
    assert [e["name"] for e in unknown["organisations"]] == expected("housing", None)

    first = await casework.suggestions("MS-2026-DIR001", "first_contact")
    assert first["matched_on"] == "not_a_need"
    assert first["organisations"] == []

    # Suggestions follow the task's visibility: another advisor's task is not there at all.
    task = await casework.task("MS-2026-DIR001", "housing")
    night = {"Authorization": f"Bearer {STAFF_TOKENS['advisor-night']}"}
    hidden = await casework.client.get(f"/v1/tasks/{task['task_id']}/suggestions", headers=night)
    assert hidden.status_code == 404
    assert hidden.headers["content-type"] == "application/problem+json"


async def test_edits_are_the_head_of_service_s_and_show_in_suggestions(
    casework: Casework,
) -> None:
    await open_case(casework, "MS-2026-DIR010", District.NORWICH)
    url = "/v1/directory/aardvark-tenancy-rescue"

    advisor = await casework.client.put(url, json=NEW_ENTRY, headers=ADVISOR)
    assert advisor.status_code == 403
    extra = await casework.client.put(url, json={**NEW_ENTRY, "website": "x"}, headers=HEAD)
    assert extra.status_code == 422
    assert extra.json()["errors"][0]["type"] == "extra_forbidden"
    bad_id = await casework.client.put("/v1/directory/Not_A_Slug", json=NEW_ENTRY, headers=HEAD)
    assert bad_id.status_code == 422

    created = await casework.client.put(url, json=NEW_ENTRY, headers=HEAD)
    assert created.status_code == 201, created.text
    assert created.json()["updated_by"] == "head-of-service"
    assert created.json()["review_overdue"] is False  # due today: still in date
    suggested = await casework.suggestions("MS-2026-DIR010", "housing")
    assert [e["name"] for e in suggested["organisations"]] == sorted(
        [*expected("housing", "norwich"), NEW_ENTRY["name"]], key=str.casefold
    )

    replaced = await casework.client.put(
        url, json={**NEW_ENTRY, "districts": ["great_yarmouth"]}, headers=HEAD
    )
    assert replaced.status_code == 200
    assert replaced.json()["districts"] == ["great_yarmouth"]
    suggested = await casework.suggestions("MS-2026-DIR010", "housing")
    assert [e["name"] for e in suggested["organisations"]] == expected("housing", "norwich")

    # Retiring a seeded entry: gone from the list and the suggestions, still readable by id.
    seeded = next(
        e for e in DIRECTORY["entries"] if "housing" in e["needs"] and "norwich" in e["districts"]
    )
    assert await casework.delete(seeded["id"], ADVISOR) == 403
    assert await casework.delete(seeded["id"], HEAD) == 204
    assert await casework.delete(seeded["id"], HEAD) == 204  # already retired: nothing changes
    assert await casework.delete("no-such-org", HEAD) == 404
    suggested = await casework.suggestions("MS-2026-DIR010", "housing")
    assert seeded["name"] not in [e["name"] for e in suggested["organisations"]]
    assert seeded["id"] not in [e["id"] for e in await casework.get("/v1/directory")]
    assert seeded["id"] in [
        e["id"] for e in await casework.get("/v1/directory", include_retired="true")
    ]
    retired = await casework.get(f"/v1/directory/{seeded['id']}")
    assert retired["retired_at"] == "2026-11-30T10:00:00Z"
    missing = await casework.client.get("/v1/directory/no-such-org", headers=HEAD)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


async def test_a_restart_adds_new_file_entries_but_never_overwrites_the_api_s(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/c.sqlite3"
    salvation = "/v1/directory/salvation-army-victim-care"
    async with AsyncExitStack() as stack:
        casework = await start(stack, url, FixedClock(MONDAY))
        body = {**NEW_ENTRY, "name": "Edited through the API"}
        assert (await casework.client.put(salvation, json=body, headers=HEAD)).status_code == 200
        assert await casework.delete("city-crisis-fund", HEAD) == 204
    # The file gains an entry; the database keeps the API's edit and the retirement.
    grown = tmp_path / "services-directory.yaml"
    added = {"id": "new-in-the-file", **NEW_ENTRY, "name": "New in the file"}
    grown.write_text(yaml.safe_dump({"entries": [*DIRECTORY["entries"], added]}))
    TEST_SETTINGS = {**TEST_SETTINGS_CASEWORK, "directory_file": grown}
    async with AsyncExitStack() as stack:
        settings = CaseworkSettings(
            **{**TEST_SETTINGS, "chase_poll_seconds": 3600.0},
            SAFEGUARDING_ENV="test", verify_topics_on_start=False, database_url=url,
        )  # fmt: skip
        app = create_casework(settings, FixedClock(MONDAY))
        await stack.enter_async_context(TestKafkaBroker(app.kafka_broker))
        await stack.enter_async_context(TestApp(app))
        client = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app.http_app), base_url="http://c")
        )
        again = (await client.get(salvation, headers=HEAD)).json()
        assert again["name"] == "Edited through the API"
        assert (await client.get("/v1/directory/new-in-the-file", headers=HEAD)).status_code == 200
        crisis = (await client.get("/v1/directory/city-crisis-fund", headers=HEAD)).json()
        assert crisis["retired_at"] is not None
