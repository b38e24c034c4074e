"""A police contact through intake and the real broker to casework, on SQLite and PostgreSQL: the
housing task of a contact met in King's Lynn and West Norfolk suggests exactly the organisations
the directory file lists for housing there (read here from the file as plain data), and an entry
the head of service adds through the API is suggested at once."""

from __future__ import annotations

import json
from contextlib import AsyncExitStack
from typing import Any

import pytest
import yaml

from tests.support import system
from tests.support.databases import DatabaseUrls
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

DISTRICT = "kings_lynn_west_norfolk"
DIRECTORY = yaml.safe_load(
    (system.ROOT / "deploy" / "config" / "services-directory.yaml").read_text()
)


def housing_in_district() -> list[str]:
    found = [
        entry["name"]
        for entry in DIRECTORY["entries"]
        if "housing" in entry["needs"]
        and (entry["districts"] == ["all"] or DISTRICT in entry["districts"])
    ]
    return sorted(found, key=str.casefold)


async def test_a_housing_task_suggests_the_district_s_organisations(
    kafka_bootstrap: str, topic_prefix: str, database_urls: DatabaseUrls, example_contact: bytes
) -> None:
    contact: dict[str, Any] = json.loads(example_contact)
    contact["location"]["district"] = DISTRICT
    contact["support_needs"] = ["housing"]
    async with AsyncExitStack() as stack:
        running = await system.start_services(
            stack, kafka_bootstrap, topic_prefix, database_urls, names=("intake", "casework")
        )
        intake = running.client("intake")
        casework = running.client("casework")
        posted = await system.post_contact(intake, json.dumps(contact).encode())
        assert posted.status_code == 202, posted.text
        reference = posted.json()["case_reference"]

        tasks = await eventually(
            lambda: casework.get(f"/v1/cases/{reference}/tasks"),
            lambda response: any(task["kind"] == "housing" for task in response.json()),
            what="the housing task opened",
        )
        housing = next(task for task in tasks.json() if task["kind"] == "housing")
        url = f"/v1/tasks/{housing['task_id']}/suggestions"
        suggested = (await casework.get(url)).json()
        assert suggested["district"] == DISTRICT
        names = [entry["name"] for entry in suggested["organisations"]]
        assert names == housing_in_district()
        assert len(names) >= 2  # a district entry and an "all" entry

        entry: dict[str, Any] = {
            "name": "Lynn Tenancy Rescue",
            "needs": ["housing"],
            "districts": [DISTRICT],
            "how_to_refer": [{"method": "phone", "contact": "01632 960555"}],
            "review_date": "2027-06-30",
        }
        saved = await casework.put("/v1/directory/lynn-tenancy-rescue", json=entry)
        assert saved.status_code == 201, saved.text
        suggested = (await casework.get(url)).json()
        assert [e["name"] for e in suggested["organisations"]] == sorted(
            [*housing_in_district(), entry["name"]], key=str.casefold
        )
