"""What an alert says and to whom: pure decisions.

Alert texts are built from `AlertFields` alone, an allow-list: the model has no field that could
hold a name, date of birth, phone, address, nationality or notes, so no template can render one.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from services.notifier.rota import Person, Role, Rota, on_duty
from shared.events import ChildReferralOpenedV1, ReferralOpenedV1, Urgency

Alertable = ReferralOpenedV1 | ChildReferralOpenedV1

SMS_LIMIT = 306  # two concatenated SMS segments


class AlertFields(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    case_reference: str
    urgency: Urgency
    district: str
    time: str
    operation: str | None


class AlertText(BaseModel):
    model_config = ConfigDict(frozen=True)

    title: str
    body: str


def alert_fields(event: Alertable, timezone: str) -> AlertFields:
    local = event.recorded_at.astimezone(ZoneInfo(timezone))
    return AlertFields(
        case_reference=event.case_reference,
        urgency=event.urgency,
        district=event.district.value.replace("_", " ").title(),
        time=local.strftime("%H:%M %d %b %Y"),
        operation=event.operation,
    )


def render_alert(fields: AlertFields, child: bool) -> AlertText:
    heading = "CHILD safeguarding referral" if child else "Modern slavery referral"
    title = f"[{fields.urgency.value.upper()}] {heading} {fields.case_reference}"
    lines = [
        f"Case {fields.case_reference}",
        f"Urgency: {fields.urgency.value}",
        f"District: {fields.district}",
        f"Police contact: {fields.time}",
    ]
    if fields.operation:
        lines.append(f"Operation: {fields.operation}")
    body = "\n".join(lines)
    return AlertText(title=title, body=body[:SMS_LIMIT])


def recipients(rota: Rota, event: Alertable, now: datetime) -> tuple[Person, ...]:
    """The on-duty advisor always; for the child pathway also the children's safeguarding contact
    and the coordinator, at once (this service does not take the case, but must not drop it)."""
    chosen = [on_duty(rota, now)]
    if isinstance(event, ChildReferralOpenedV1):
        chosen += [
            *rota.with_role(Role.CHILDRENS_SAFEGUARDING),
            *rota.with_role(Role.MEETING_COORDINATOR),
        ]
    unique: dict[str, Person] = {person.id: person for person in chosen}
    return tuple(unique.values())


def retry_delay_seconds(attempts: int, cap: float = 300.0) -> float:
    """Exponential backoff for a failed delivery, capped: an alert is retried until delivered."""
    return float(min(cap, 2 ** max(0, attempts - 1)))
