"""An acknowledgement that lands while a send is under way: if that send then fails, nothing more
is sent — no retry and no fallback channel (found by the integration-wait review)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
import yaml
from faststream import TestApp
from faststream.kafka import TestKafkaBroker

from services.notifier.adapters.tables import delivery_attempts, notifications
from services.notifier.main import create_app as create_notifier
from services.notifier.ports import Attachment
from services.notifier.settings import NotifierSettings
from shared.db import create_engine
from shared.events import Urgency
from shared.topics import REFERRALS
from tests.support.events import referral
from tests.support.signing import publish_signed
from tests.support.system import ROOT, TEST_SETTINGS_NOTIFIER
from tests.support.waiting import eventually, wait_until


class HeldSender:
    """Every send waits until released, then fails: a provider answering slowly, then refusing."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.release = asyncio.Event()

    async def send(
        self, url: str, title: str, body: str, attachments: tuple[Attachment, ...] = ()
    ) -> bool:
        self.started.append(url)
        await self.release.wait()
        return False


def config(folder: Path) -> tuple[Path, Path]:
    every_day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun", "bank_holiday"]
    rota = {
        "people": [
            {"id": "advisor", "role": "advisor",
             "channels": {"sms": "json://127.0.0.1:9/sms", "email": "json://127.0.0.1:9/email"}},
            {"id": "head", "role": "head_of_service", "channels": {"sms": "json://127.0.0.1:9/h"}},
        ],
        "weekly": [{"days": every_day, "start": "00:00", "end": "00:00", "person": "advisor"}],
        "last_resort": "head",
    }  # fmt: skip
    policy = yaml.safe_load((ROOT / "deploy" / "config" / "alerting.yaml").read_text())
    policy["channels"]["priority"] = ["sms"]  # e-mail is the fallback a failure would bring in
    policy["max_attempts_per_channel"] = 1
    (folder / "rota.yaml").write_text(json.dumps(rota))
    (folder / "alerting.yaml").write_text(json.dumps(policy))
    return folder / "rota.yaml", folder / "alerting.yaml"


async def test_a_send_failing_after_the_acknowledgement_brings_no_fallback(tmp_path: Path) -> None:
    rota_file, alerting_file = config(tmp_path)
    url = f"sqlite+aiosqlite:///{tmp_path}/n.sqlite3"
    sender = HeldSender()
    app = create_notifier(
        NotifierSettings(
            SAFEGUARDING_ENV="test", verify_topics_on_start=False, database_url=url,
            **TEST_SETTINGS_NOTIFIER | {"rota_file": rota_file, "alerting_file": alerting_file},
            dispatch_poll_seconds=0.05, outbox_poll_seconds=0.1,
        ),
        sender=sender,
    )  # fmt: skip
    engine = create_engine(url)

    async def rows(table: sa.Table) -> list[Any]:
        async with engine.connect() as connection:
            return list((await connection.execute(sa.select(table))).all())

    event = referral("MS-2026-HELD01", referral_time(), Urgency.PRIORITY)
    async with TestKafkaBroker(app.kafka_broker), TestApp(app):
        await publish_signed(app.kafka_broker, event, REFERRALS.name)
        await wait_until(lambda: len(sender.started) == 1, what="the SMS send under way")
        [sms] = await rows(notifications)
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app.http_app), base_url="http://n"
        )
        answer = await http.post("/v1/acks", json={"code": sms.ack_code})
        assert answer.json() == {"status": "acknowledged"}
        sender.release.set()  # the provider now refuses the SMS that was under way
        await eventually(lambda: rows(delivery_attempts), lambda found: len(found) == 1,
                         what="the failed attempt recorded")  # fmt: skip
        found = await eventually(
            lambda: rows(notifications), lambda found: found[0].attempts == 1, what="attempts"
        )
        # A fallback would be a new notification due at once. Positive control that the dispatcher
        # went on working and does fall back for an open alert: a second, unacknowledged alert's
        # SMS fails the same way and its e-mail follows.
        other = referral("MS-2026-HELD02", referral_time(), Urgency.PRIORITY)
        await publish_signed(app.kafka_broker, other, REFERRALS.name)
        await wait_until(lambda: len(sender.started) == 3, what="the open alert's fallback")
        found = await rows(notifications)
    await engine.dispose()
    first = [(row.channel, row.status) for row in found if row.alert_id == sms.alert_id]
    assert first == [("sms", "cancelled")], "no fallback e-mail for the acknowledged alert"
    second = sorted(row.channel for row in found if row.alert_id != sms.alert_id)
    assert second == ["email", "sms"]
    assert sender.started == [
        "json://127.0.0.1:9/sms", "json://127.0.0.1:9/sms", "json://127.0.0.1:9/email",
    ]  # fmt: skip


def referral_time() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)
