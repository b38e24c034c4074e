"""The NASN's agenda in memory: anonymised counts for the period, casework's themes, small
numbers suppressed, and no case reference in any format."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pypdf
from faststream import TestApp
from faststream.kafka import TestKafkaBroker

from services.meeting_scheduler.main import create_app as create_scheduler
from services.meeting_scheduler.settings import SchedulerSettings
from shared.clock import FixedClock
from shared.events import (
    CaseworkFiguresV1,
    ChildReferralOpenedV1,
    District,
    ExploitationType,
    NrmConsent,
    Pathway,
    ReferralOpenedV1,
    SupportNeed,
    Urgency,
)
from shared.topics import REFERRALS, TASKS
from tests.support.signing import publish_signed
from tests.support.system import TEST_SETTINGS_MEETINGS
from tests.support.waiting import eventually

NASN = "/v1/meetings/nasn/2027-01-21"


def referral(
    number: int,
    at: datetime,
    district: District,
    kind: ExploitationType,
    child: bool = False,
    operation: str | None = None,
) -> ReferralOpenedV1 | ChildReferralOpenedV1:
    event_type = ChildReferralOpenedV1 if child else ReferralOpenedV1
    return event_type(
        occurred_at=at, correlation_id=f"c-{number}", producer="intake", case_reference=f"MS-2026-NASN{number:02d}",
        force_code="NFK", recorded_at=at - timedelta(hours=1), district=district, exploitation_types=(kind,),
        pathway=Pathway.CHILD if child else Pathway.NRM, age_unknown=False, urgency=Urgency.PRIORITY,
        immediate_risk=False, nrm_consent=NrmConsent.GIVEN, support_needs=(SupportNeed.HOUSING,),
        operation=operation or ("Op Kestrel" if district is District.GREAT_YARMOUTH else None),
    )  # fmt: skip


async def test_nasn_agenda_has_counts_and_themes_but_no_case(tmp_path: Path) -> None:
    clock = FixedClock(datetime(2026, 11, 29, 12, 0, tzinfo=UTC))
    app = create_scheduler(
        SchedulerSettings(SAFEGUARDING_ENV="test", verify_topics_on_start=False,
                          database_url=f"sqlite+aiosqlite:///{tmp_path}/m.sqlite3", **TEST_SETTINGS_MEETINGS),
        clock,
    )  # fmt: skip
    broker = app.kafka_broker
    events = [
        referral(1, clock.now(), District.GREAT_YARMOUTH, ExploitationType.LABOUR),
        referral(2, clock.now(), District.GREAT_YARMOUTH, ExploitationType.LABOUR),
        referral(3, clock.now(), District.GREAT_YARMOUTH, ExploitationType.LABOUR, child=True),
        referral(4, clock.now(), District.NORWICH, ExploitationType.SEXUAL, operation="Op Heron"),
        referral(
            5, datetime(2026, 9, 1, tzinfo=UTC), District.NORWICH, ExploitationType.SEXUAL
        ),  # last period
    ]
    figures = CaseworkFiguresV1(
        occurred_at=clock.now(), correlation_id="f", producer="casework", people_supported=4, target=100,
        open_tasks_by_need={"housing": 4}, overdue_tasks_by_need={"housing": 1},
        median_hours_to_first_contact=5.5, referrals_by_organisation={"housing_options": 2},
    )  # fmt: skip
    async with TestKafkaBroker(broker), TestApp(app):
        for event in events:
            await publish_signed(broker, event, REFERRALS.name)
        await publish_signed(broker, figures, TASKS.name)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app.http_app), base_url="http://m",
                                   headers={"Authorization": "Bearer test-token-coordinator"})  # fmt: skip
        refused = await client.post("/v1/learning-themes", json={"theme": "see MS-2026-NASN01"})
        assert refused.status_code == 422, "a theme may not name a case"
        flagged = await client.post(
            "/v1/learning-themes", json={"theme": "Debt bondage through travel loans"}
        )
        assert flagged.status_code == 204
        markdown = (
            await eventually(
                lambda: client.get(f"{NASN}/agenda.md"),
                lambda r: "Referrals: 4" in r.text,
                what="counts",
            )
        ).text
        html = (await client.get(f"{NASN}/agenda.html")).text
        pdf = (await client.get(f"{NASN}/agenda.pdf")).content
        ics = (await client.get(f"{NASN}/agenda.ics")).text

    assert "- **Period:** 15 October 2026 to 21 January 2027" in markdown
    assert "| Labour | 3 |" in markdown
    assert "| Sexual | fewer than 3 |" in markdown, "small numbers are suppressed"
    assert "| Great Yarmouth | 3 |" in markdown
    assert "| Norwich | fewer than 3 |" in markdown
    assert "| Op Kestrel | 3 |" in markdown
    # One contact under Op Heron: its name would point at that person, so only a folded count shows.
    assert "Heron" not in markdown
    assert "| other operations (fewer than 3 each) | fewer than 3 |" in markdown
    assert "People supported: 4 of 100" in markdown
    assert "| Housing options | fewer than 3 |" in markdown
    assert "## 5. Flagged for learning\n\n- Debt bondage through travel loans" in markdown
    assert (
        '<table border="1" width="100%">\n<tr><th width="75%" align="left" bgcolor="#e8e8e8"></th>'
        in html
    )
    text = pypdf.PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert "Referrals: 4" in text
    assert "Labour 3" in text, "the counts as a table"
    assert "Sexual fewer than 3" in text
    for document in (markdown, html, text, ics):
        assert not re.search(r"MS-\d{4}-", document), "no case reference reaches the NASN"
        assert "Heron" not in document
