"""The rota-gap warning as deployed: the notifier's hourly housekeeping tells the head of service of
each stretch ahead that no shift covers, once per gap: not again at the next check, nor from a
check made inside the gap, nor after a restart (on SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from contextlib import AsyncExitStack
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from services.notifier.adapters.tables import alerts
from services.notifier.main import create_app as create_notifier
from services.notifier.settings import NotifierSettings
from shared.clock import LONDON, FixedClock
from tests.support import system
from tests.support.databases import DatabaseUrls
from tests.support.safeguarding_paths import rows
from tests.support.smtp import SmtpSink

pytestmark = pytest.mark.integration

EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun", "bank_holiday"]


def write_config(folder: Path, smtp_port: int) -> tuple[Path, Path]:
    """Days covered 08:00-20:00, nights by nobody; the head of service is warned a day ahead."""

    def email(who: str) -> dict[str, str]:
        return {
            "email": f"mailto://127.0.0.1:{smtp_port}?from=alerts@test.local&to={who}@test.local&mode=insecure"
        }

    rota = {
        "people": [
            {"id": "day", "role": "advisor", "channels": email("day")},
            {"id": "head", "role": "head_of_service", "channels": email("head")},
        ],
        "weekly": [{"days": EVERY_DAY, "start": "08:00", "end": "20:00", "person": "day"}],
        "last_resort": "head",
    }
    policy = yaml.safe_load((system.ROOT / "deploy" / "config" / "alerting.yaml").read_text())
    policy["gap_warning_days"] = 1
    (folder / "rota.yaml").write_text(json.dumps(rota))
    (folder / "alerting.yaml").write_text(json.dumps(policy))
    return folder / "rota.yaml", folder / "alerting.yaml"


async def test_head_of_service_is_warned_once_per_gap(
    kafka_bootstrap: str, topic_prefix: str, database_urls: DatabaseUrls, tmp_path: Path
) -> None:
    clock = FixedClock(datetime(2026, 6, 10, 12, 0, tzinfo=LONDON))  # Wednesday noon, BST
    url = await database_urls.new("notifier")
    with SmtpSink() as smtp:
        rota_file, alerting_file = write_config(tmp_path, smtp.port)
        settings = NotifierSettings(
            **system.common(kafka_bootstrap, topic_prefix, url),
            **system.TEST_SETTINGS_NOTIFIER
            | {"rota_file": rota_file, "alerting_file": alerting_file},
            dispatch_poll_seconds=0.2,
        )

        async with AsyncExitStack() as stack:
            # Wednesday noon: a day ahead holds Wednesday night's gap only.
            await system.start(stack, {"notifier": create_notifier(settings, clock)})
            await smtp.inbox.wait_for(1)

        async with AsyncExitStack() as stack:
            # Restarted at 21:00 Wednesday, inside that gap: Thursday night's gap is new, and
            # Wednesday night's, checked from inside it, is not warned again.
            clock.advance(timedelta(hours=9))
            await system.start(stack, {"notifier": create_notifier(settings, clock)})
            await smtp.inbox.wait_for(2)
            # A day later (the hourly housekeeping runs again): Friday night's is new.
            clock.advance(timedelta(hours=24))
            await smtp.inbox.wait_for(3)
            warned = await rows(
                url,
                sa.select(alerts.c.subject_key, alerts.c.fields)
                .where(alerts.c.kind == "rota_gap")
                .order_by(alerts.c.raised_at),
            )

    assert [(str(m["to"]), str(m["subject"])) for m in smtp.inbox.messages] == [
        ("head@test.local", "Rota gap ahead: from 20:00 Wed 10 Jun to 08:00 Thu 11 Jun"),
        # Found a day ahead, told with its real end (not the end of the look-ahead, 21:00).
        ("head@test.local", "Rota gap ahead: from 20:00 Thu 11 Jun to 08:00 Fri 12 Jun"),
        ("head@test.local", "Rota gap ahead: from 20:00 Fri 12 Jun to 08:00 Sat 13 Jun"),
    ]
    # One alert per gap, keyed on the gap's start (19:00 UTC, 20:00 BST), whatever the checks.
    assert [datetime.fromisoformat(row["subject_key"]).astimezone(LONDON) for row in warned] == [
        datetime(2026, 6, 10, 20, 0, tzinfo=LONDON),
        datetime(2026, 6, 11, 20, 0, tzinfo=LONDON),
        datetime(2026, 6, 12, 20, 0, tzinfo=LONDON),
    ]
