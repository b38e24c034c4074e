"""What an alert says (an allow-list of fields) and whom it goes to."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from services.notifier.domain import (
    SMS_LIMIT,
    AlertFields,
    alert_fields,
    recipients,
    render_alert,
    retry_delay_seconds,
)
from services.notifier.rota import Rota, load_rota
from shared.events import (
    ChildReferralOpenedV1,
    District,
    ExploitationType,
    NrmConsent,
    Pathway,
    ReferralOpenedV1,
    SupportNeed,
    Urgency,
)
from tests.unit.builders import ROTA_FILE

CASE = "MS-2026-7KQ2M4"
DAYTIME = datetime(2026, 6, 15, 11, 0, tzinfo=UTC)  # 12:00 BST: advisor-day
NIGHT = datetime(2026, 6, 15, 22, 0, tzinfo=UTC)  # 23:00 BST: advisor-night


def _child_event(**changes: Any) -> ChildReferralOpenedV1:
    fields = _event(pathway=Pathway.CHILD).model_dump(exclude={"event_type"})
    return ChildReferralOpenedV1(**(fields | changes))


def _event(**changes: Any) -> ReferralOpenedV1:
    fields: dict[str, Any] = {
        "occurred_at": datetime(2026, 6, 15, 0, 0, tzinfo=UTC),
        "correlation_id": "canary-correlation-5",
        "producer": "canary-producer",
        "case_reference": CASE,
        "force_code": "CANFRC",
        "recorded_at": datetime(2026, 6, 14, 23, 30, tzinfo=UTC),  # 00:30 BST on 15 June
        "district": District.GREAT_YARMOUTH,
        "exploitation_types": (ExploitationType.ORGAN_HARVESTING,),
        "pathway": Pathway.DUTY_TO_NOTIFY,
        "age_unknown": False,
        "urgency": Urgency.IMMEDIATE,
        "immediate_risk": True,
        "nrm_consent": NrmConsent.DECLINED,
        "support_needs": (SupportNeed.FINANCIAL_SUPPORT,),
        "operation": "Op Canary",
    }
    fields.update(changes)
    return ReferralOpenedV1(**fields)


@pytest.fixture
def rota() -> Rota:
    return load_rota(ROTA_FILE, environ={})


def test_alert_fields_are_the_allow_listed_facts_in_london_time() -> None:
    assert alert_fields(_event(), "Europe/London") == AlertFields(
        case_reference=CASE,
        urgency=Urgency.IMMEDIATE,
        district="Great Yarmouth",
        time="00:30 15 Jun 2026",
        operation="Op Canary",
    )


def test_render_alert_says_exactly_the_allow_listed_facts() -> None:
    text = render_alert(alert_fields(_event(), "Europe/London"), child=False)
    assert text.title == f"[IMMEDIATE] Modern slavery referral {CASE}"
    assert text.body == (
        f"Case {CASE}\n"
        "Urgency: immediate\n"
        "District: Great Yarmouth\n"
        "Police contact: 00:30 15 Jun 2026\n"
        "Operation: Op Canary"
    )


def test_render_alert_leaks_nothing_else_from_the_event() -> None:
    event = _event()
    text = render_alert(alert_fields(event, "Europe/London"), child=False)
    rendered = f"{text.title}\n{text.body}".lower()
    for other in (
        "canary-correlation-5", "canary-producer", "canfrc", "organ", "financial",
        "declined", "duty_to_notify", "duty to notify", str(event.event_id), "true",
    ):  # fmt: skip
        assert other not in rendered


def test_render_alert_without_operation_has_no_operation_line() -> None:
    text = render_alert(alert_fields(_event(operation=None), "Europe/London"), child=False)
    assert "Operation" not in text.body
    assert text.body.splitlines()[-1] == "Police contact: 00:30 15 Jun 2026"


def test_child_alert_heading() -> None:
    fields = alert_fields(_event(urgency=Urgency.PRIORITY), "Europe/London")
    assert render_alert(fields, child=True).title == (
        f"[PRIORITY] CHILD safeguarding referral {CASE}"
    )


def test_alert_fields_refuse_extra_fields() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        AlertFields(
            case_reference=CASE,
            urgency=Urgency.IMMEDIATE,
            district="Norwich",
            time="10:00 01 Jan 2026",
            operation=None,
            name="Canary Wilhelmina",  # type: ignore[call-arg]
        )


def test_alert_body_fits_two_sms_segments() -> None:
    fields = alert_fields(_event(operation="Operation " + "X" * 400), "Europe/London")
    body = render_alert(fields, child=False).body
    assert len(body) == SMS_LIMIT == 306
    assert body.startswith(f"Case {CASE}\n")


def test_recipients_for_an_adult_are_the_on_duty_advisor(rota: Rota) -> None:
    assert [p.id for p in recipients(rota, _event(), DAYTIME)] == ["advisor-day"]
    assert [p.id for p in recipients(rota, _event(), NIGHT)] == ["advisor-night"]


@pytest.mark.parametrize(
    ("now", "advisor"), [(DAYTIME, "advisor-day"), (NIGHT, "advisor-night")], ids=["day", "night"]
)
def test_child_recipients_add_childrens_safeguarding_and_coordinator(
    rota: Rota, now: datetime, advisor: str
) -> None:
    chosen = recipients(rota, _child_event(), now)
    assert [person.id for person in chosen] == [advisor, "childrens-safeguarding", "coordinator"]
    assert [person.role.value for person in chosen] == [
        "advisor",
        "childrens_safeguarding",
        "meeting_coordinator",
    ]


def test_recipients_are_not_repeated(tmp_path: Path) -> None:
    path = tmp_path / "rota.yaml"
    path.write_text(
        "people:\n"
        "  - {id: coord, role: meeting_coordinator, channels: ['json://localhost/a']}\n"
        "  - {id: kids, role: childrens_safeguarding, channels: ['json://localhost/b']}\n"
        "last_resort: coord\n"
    )
    chosen = recipients(load_rota(path, environ={}), _child_event(), DAYTIME)
    assert [person.id for person in chosen] == ["coord", "kids"]


@pytest.mark.parametrize(
    ("attempts", "delay"),
    [(0, 1.0), (1, 1.0), (2, 2.0), (3, 4.0), (5, 16.0), (9, 256.0), (10, 300.0), (10_000, 300.0)],
)
def test_retry_delay_grows_and_is_capped(attempts: int, delay: float) -> None:
    assert retry_delay_seconds(attempts) == delay


def test_retry_delay_never_shrinks() -> None:
    delays = [retry_delay_seconds(attempt) for attempt in range(1, 30)]
    assert delays == sorted(delays)
    assert max(delays) == 300.0
    assert retry_delay_seconds(4, cap=5.0) == 5.0
