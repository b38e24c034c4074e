"""Rotating intake's vault key as an operator would, on SQLite and PostgreSQL: intake restarted
with key B current and key A among the old keys still reads what A sealed, recognises a replay of
a contact sealed under A, and seals every new or changed record under B."""

from __future__ import annotations

import base64
import json
from contextlib import AsyncExitStack
from typing import Any

import pytest
import sqlalchemy as sa

from services.intake.adapters.tables import vault_records
from services.intake.main import create_app as create_intake
from services.intake.settings import IntakeSettings
from tests.support import system
from tests.support.databases import DatabaseUrls
from tests.support.safeguarding_paths import rows

pytestmark = pytest.mark.integration

KEY_B = base64.b64encode(b"test-only-rotated-vault-key-32b!").decode()
READER = {"Authorization": "Bearer test-token-vault-reader"}
PURPOSE = {"purpose": "key rotation check"}


def intake(kafka: str, prefix: str, url: str, **vault: Any) -> IntakeSettings:
    return IntakeSettings(
        **system.common(kafka, prefix, url),
        **system.TEST_SETTINGS_INTAKE | vault,
        vault_readers={"reader-ann": "test-token-vault-reader"},
    )


async def test_records_sealed_before_a_rotation_stay_readable(
    kafka_bootstrap: str, topic_prefix: str, database_urls: DatabaseUrls, example_contact: bytes
) -> None:
    assert len(base64.b64decode(KEY_B)) == 32
    url = await database_urls.new("intake")
    before = intake(kafka_bootstrap, topic_prefix, url)  # key "test-1" (A)
    after = intake(
        kafka_bootstrap, topic_prefix, url,
        vault_key=KEY_B, vault_key_id="test-2",
        vault_old_keys={"test-1": system.TEST_VAULT_KEY},
    )  # fmt: skip
    other: dict[str, Any] = json.loads(example_contact) | {"police_reference": "NFK/2026/999001"}

    async with AsyncExitStack() as stack:
        running = await system.start(stack, {"intake": create_intake(before)})
        old = (await system.post_contact(running.client("intake"), example_contact)).json()
    old_reference = old["case_reference"]

    async with AsyncExitStack() as stack:
        running = await system.start(stack, {"intake": create_intake(after)})
        client = running.client("intake")
        read = await client.get(
            f"/v1/cases/{old_reference}/personal-data", params=PURPOSE, headers=READER
        )
        assert read.status_code == 200
        assert read.json()["person"]["name"] == "Example Person"
        assert read.json()["person"]["date_of_birth"] == "1990-05-17"

        replay = await system.post_contact(client, example_contact)
        assert (replay.status_code, replay.json()["outcome"]) == (200, "replayed")

        new = await system.post_contact(client, json.dumps(other).encode())
        assert new.status_code == 202
        new_reference = new.json()["case_reference"]
        sealed = {
            row["case_reference"]: row["key_id"]
            for row in await rows(url, sa.select(vault_records.c.case_reference, vault_records.c.key_id))
        }  # fmt: skip
        assert sealed == {old_reference: "test-1", new_reference: "test-2"}

        changed = json.loads(example_contact)
        changed["support_needs"].append("housing")
        updated = await system.post_contact(client, json.dumps(changed).encode())
        assert (updated.status_code, updated.json()["outcome"]) == (202, "updated")
        resealed = await rows(
            url,
            sa.select(vault_records.c.key_id).where(
                vault_records.c.case_reference == old_reference
            ),
        )
        assert resealed == [{"key_id": "test-2"}]
        read = await client.get(
            f"/v1/cases/{old_reference}/personal-data", params=PURPOSE, headers=READER
        )
        assert read.json()["support_needs"][-1] == "housing"
