"""Retention as deployed, on SQLite and PostgreSQL: intake's background purger erases the personal
data of cases not updated within the retention period (and only those), keeping the case's
non-identifying row and auditing the purge; the notifier's housekeeping erases message texts
after its retention while the delivery ledger stays."""

from __future__ import annotations

import json
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import yaml

from services.intake.adapters.tables import cases, vault_access_log, vault_records
from services.intake.main import create_app as create_intake
from services.intake.settings import IntakeSettings
from services.notifier.adapters.tables import alerts, delivery_attempts, notifications
from services.notifier.main import create_app as create_notifier
from services.notifier.settings import NotifierSettings
from shared.clock import FixedClock
from shared.topics import REFERRALS
from tests.support import system
from tests.support.databases import DatabaseUrls
from tests.support.events import referral
from tests.support.kafka import produce
from tests.support.notifier import wait_sends_settled
from tests.support.safeguarding_paths import rows
from tests.support.smtp import SmtpSink
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

READER_TOKEN = "test-token-vault-reader"
PURPOSE = {"purpose": "retention test check"}
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


async def post_at(client: httpx.AsyncClient, clock: FixedClock, contact: dict[str, Any]) -> str:
    """POST a contact signed at the intake clock's time; its case reference."""
    body = json.dumps(contact).encode()
    response = await client.post(
        "/v1/contacts", content=body, headers=system.signed(body, timestamp=int(clock.now().timestamp()))
    )  # fmt: skip
    assert response.status_code == 202, response.text
    reference: str = response.json()["case_reference"]
    return reference


async def test_purger_erases_personal_data_past_retention_only(
    kafka_bootstrap: str, topic_prefix: str, database_urls: DatabaseUrls, example_contact: bytes
) -> None:
    clock = FixedClock(T0)
    url = await database_urls.new("intake")
    settings = IntakeSettings(
        **system.common(kafka_bootstrap, topic_prefix, url),
        **system.TEST_SETTINGS_INTAKE,
        vault_readers={"reader-ann": READER_TOKEN},
        retention_days=30,
        purge_interval_seconds=0.3,
    )
    older: dict[str, Any] = json.loads(example_contact)
    newer = json.loads(example_contact) | {"police_reference": "NFK/2026/118735"}
    async with AsyncExitStack() as stack:
        running = await system.start(stack, {"intake": create_intake(settings, clock)})
        client = running.client("intake")
        reader = {"Authorization": f"Bearer {READER_TOKEN}"}

        async def personal_data(reference: str) -> httpx.Response:
            return await client.get(
                f"/v1/cases/{reference}/personal-data", params=PURPOSE, headers=reader
            )

        first = await post_at(client, clock, older)  # last updated 1 Dec
        clock.advance(timedelta(days=10))
        second = await post_at(client, clock, newer)  # last updated 11 Dec
        assert (await personal_data(first)).json()["person"]["name"] == "Example Person"

        # 31 Dec 09:01: the first case is 30 days and a minute old, the second 20 days.
        clock.advance(timedelta(days=20, minutes=1))
        held = await eventually(
            lambda: rows(url, sa.select(vault_records.c.case_reference)),
            lambda found: len(found) < 2,
            what="the first case's sealed record purged",
        )
        assert held == [{"case_reference": second}]
        assert (await personal_data(first)).status_code == 404
        assert (await personal_data(second)).status_code == 200, "within retention: kept"
        case_rows = {
            row["case_reference"]: row
            for row in await rows(url, sa.select(cases.c.case_reference, cases.c.purged_at))
        }
        assert case_rows[first]["purged_at"] == datetime(2026, 12, 31, 9, 1, tzinfo=UTC)
        assert case_rows[second]["purged_at"] is None

        # 10 Jan 09:02: the second case's turn.
        clock.advance(timedelta(days=10, minutes=1))
        await eventually(
            lambda: rows(url, sa.select(vault_records.c.case_reference)),
            lambda found: found == [],
            what="the second case's sealed record purged",
        )
        assert (await personal_data(second)).status_code == 404
    audit = await rows(
        url,
        sa.select(vault_access_log.c.case_reference, vault_access_log.c.accessor,
                  vault_access_log.c.action, vault_access_log.c.accessed_at)
        .order_by(vault_access_log.c.id),
    )  # fmt: skip
    assert [(a["case_reference"], a["accessor"], a["action"]) for a in audit] == [
        (first, "reader-ann", "read"),
        (first, "retention", "purge"),
        (second, "reader-ann", "read"),
        (second, "retention", "purge"),
    ]
    assert audit[3]["accessed_at"] == datetime(2027, 1, 10, 9, 2, tzinfo=UTC)


def notifier_config(folder: Path, smtp_port: int) -> tuple[Path, Path]:
    """One advisor on duty around the clock, by email; one notification per alert (no steps
    after the first), message texts kept 30 days."""
    sink = f"mailto://127.0.0.1:{smtp_port}?from=alerts@test.local&to={{}}@test.local&mode=insecure"
    every_day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun", "bank_holiday"]
    rota = {
        "people": [
            {"id": "advisor", "role": "advisor", "channels": {"email": sink.format("advisor")}},
            {"id": "head", "role": "head_of_service", "channels": {"email": sink.format("head")}},
        ],
        "weekly": [{"days": every_day, "start": "00:00", "end": "00:00", "person": "advisor"}],
        "last_resort": "head",
    }
    policy = yaml.safe_load((system.ROOT / "deploy" / "config" / "alerting.yaml").read_text())
    policy["message_retention_days"] = 30
    for urgency in ("immediate", "priority", "routine"):
        policy["escalation"][urgency] = {"steps": [{"after_minutes": 0, "notify": ["on_duty"]}]}
    (folder / "rota.yaml").write_text(json.dumps(rota))
    (folder / "alerting.yaml").write_text(json.dumps(policy))
    return folder / "rota.yaml", folder / "alerting.yaml"


async def test_notifier_erases_message_texts_after_retention_and_keeps_the_ledger(
    kafka_bootstrap: str, topic_prefix: str, database_urls: DatabaseUrls, tmp_path: Path
) -> None:
    clock = FixedClock(T0)
    url = await database_urls.new("notifier")
    topic = REFERRALS.full_name(topic_prefix)

    async def texts() -> dict[str, tuple[str | None, str | None]]:
        found = await rows(url, sa.select(notifications.c.body, notifications.c.title,
                                          notifications.c.created_at))  # fmt: skip
        return {row["created_at"].isoformat(): (row["title"], row["body"]) for row in found}

    with SmtpSink() as smtp:
        rota_file, alerting_file = notifier_config(tmp_path, smtp.port)
        settings = NotifierSettings(
            **system.common(kafka_bootstrap, topic_prefix, url),
            **system.TEST_SETTINGS_NOTIFIER
            | {"rota_file": rota_file, "alerting_file": alerting_file},
            dispatch_poll_seconds=0.2,
        )
        async with AsyncExitStack() as stack:
            await system.start(stack, {"notifier": create_notifier(settings, clock)})
            old = referral("MS-2026-RETN01", T0)
            await produce(kafka_bootstrap, topic, old.model_dump_json().encode())
            await smtp.inbox.wait_for(1)
            # The attempt is recorded (with the clock's time) after the mail server answered:
            # wait for that before moving the clock, or it is stamped 29 days late.
            await wait_sends_settled(url)
            clock.advance(timedelta(days=29))  # 30 Dec 09:00: the first text is 29 days old
            new = referral("MS-2026-RETN02", clock.now())
            await produce(kafka_bootstrap, topic, new.model_dump_json().encode())
            await smtp.inbox.wait_for(2)
            await wait_sends_settled(url)
            assert all(body for _, body in (await texts()).values())

            clock.advance(timedelta(days=1, minutes=1))  # 31 Dec 09:01: 30 days and a minute
            found = await eventually(
                texts,
                lambda t: t["2026-12-01T09:00:00+00:00"] == (None, None),
                what="the first message's text erased",
            )
        ledger = await rows(
            url, sa.select(delivery_attempts.c.outcome, delivery_attempts.c.attempted_at)
        )
        fields = {
            row["case_reference"]: json.loads(row["fields"])
            for row in await rows(url, sa.select(alerts.c.case_reference, alerts.c.fields))
        }

    # The fields the texts were rendered from (case, district, operation) go with the texts.
    assert fields["MS-2026-RETN01"] == {}, fields
    assert fields["MS-2026-RETN02"]["case_reference"] == "MS-2026-RETN02"

    assert set(found) == {"2026-12-01T09:00:00+00:00", "2026-12-30T09:00:00+00:00"}
    title, body = found["2026-12-30T09:00:00+00:00"]
    assert title == "[PRIORITY] Modern slavery referral MS-2026-RETN02"
    assert body is not None, "29 days old: kept"
    assert "Case MS-2026-RETN02" in body
    assert sorted((row["outcome"], row["attempted_at"]) for row in ledger) == [
        ("delivered", datetime(2026, 12, 1, 9, 0, tzinfo=UTC)),
        ("delivered", datetime(2026, 12, 30, 9, 0, tzinfo=UTC)),
    ], "the ledger of both deliveries stays"
