"""Police operations announced ahead (#15 part 3): the police system tells us of an operation
before it happens, signed exactly like a contact (services/intake/auth.py, the same replay store).

Intake keeps the announcement (one row per operation group) and queues `OperationAnnouncedV1` on
the referrals topic through its outbox: the notifier checks the rota for the window and the
meeting scheduler puts the operation's debrief on the next case panel after it. The group is the
one its contacts get (services/intake/domain.py `group_key`), so the referrals that arrive under
the operation are matched to it.

Idempotent on the operation group: the same announcement again is a replay (nothing published);
a changed window, district or expected number publishes the same event type with the next
`version` (consumers take the highest).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import (
    AwareDatetime,
    BeforeValidator,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic import model_validator as _model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError
from sqlalchemy.exc import IntegrityError

from services.intake.adapters.tables import operations, outbox
from services.intake.contract import (
    CLOCK_SKEW,
    NUL_REFUSED,
    RFC3339_DATE_TIME,
    ForceCode,
    OperationName,
    _Strict,
)
from services.intake.domain import group_key
from services.intake.handlers import PRODUCER, IntakeDeps, Outcome
from shared.events import District, OperationAnnouncedV1
from shared.http_guards import ESCAPED_NUL
from shared.json_numbers import json_integer
from shared.logging import get_logger
from shared.outbox import enqueue

log = get_logger(__name__)

LONGEST_OPERATION = timedelta(days=7)
FURTHEST_AHEAD = timedelta(days=365)
MAX_EXPECTED = 500


class OperationAnnouncementV1(_Strict):
    """An operation planned ahead. Times are RFC 3339 with seconds and an offset."""

    force_code: ForceCode
    operation: OperationName
    district: District
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    expected_victims: Annotated[int, Field(ge=1, le=MAX_EXPECTED), BeforeValidator(json_integer)]

    @field_validator("starts_at", "ends_at", mode="before")
    @classmethod
    def _rfc3339(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value  # strict validation refuses it with its own message
        if not (match := RFC3339_DATE_TIME.fullmatch(value)):
            raise ValueError("must be an RFC 3339 date-time with seconds and offset")
        whole, fraction, offset = match.groups()
        return datetime.fromisoformat(f"{whole}{fraction or ''}{offset}".upper())

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _not_past_nor_far(cls, value: datetime, info: ValidationInfo) -> datetime:
        now = (info.context or {}).get("now")
        if isinstance(now, datetime):
            if value < now - CLOCK_SKEW:
                raise ValueError("is in the past: announce an operation before it happens")
            if value > now + FURTHEST_AHEAD:
                raise ValueError("is more than a year ahead")
        return value

    @_model_validator(mode="after")
    def _window(self) -> OperationAnnouncementV1:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if self.ends_at - self.starts_at > LONGEST_OPERATION:
            raise ValueError("an operation may last at most 7 days")
        if group_key(self.force_code, self.operation) is None:
            raise ValueError("operation must name the operation, not only 'Op'")
        return self

    @property
    def operation_group(self) -> str:
        return group_key(self.force_code, self.operation) or ""  # never empty: see _window


def parse_announcement(raw: bytes | str, now: datetime) -> OperationAnnouncementV1:
    """Validate a JSON document against the announcement contract (pydantic's ValidationError)."""
    if ESCAPED_NUL.search(raw.encode() if isinstance(raw, str) else raw):
        raise ValidationError.from_exception_data(
            "OperationAnnouncementV1",
            [
                InitErrorDetails(
                    type=PydanticCustomError("nul_character", NUL_REFUSED), loc=(), input=""
                )
            ],
        )
    return OperationAnnouncementV1.model_validate_json(raw, context={"now": now})


class _Raced(Exception):
    """Another copy of the announcement changed the row between our read and write."""


@dataclass(frozen=True)
class Announced:
    operation_group: str
    version: int
    outcome: Outcome  # opened (first announcement), updated (changed), replayed (same again)


async def announce_operation(
    announcement: OperationAnnouncementV1, deps: IntakeDeps, correlation_id: str
) -> Announced:
    """Store the announcement and queue its event, in one transaction; idempotent per group."""
    for _ in range(3):
        try:
            announced = await _announce_once(announcement, deps, correlation_id)
        except (IntegrityError, _Raced):  # two copies raced: the loser reads the winner's
            continue
        if announced.outcome is not Outcome.REPLAYED:
            deps.on_commit()
        log.info(
            "operation_announced",
            operation_group=announced.operation_group,
            version=announced.version,
            outcome=announced.outcome,
        )
        return announced
    raise RuntimeError("could not settle a concurrent announcement of the same operation")


async def _announce_once(
    announcement: OperationAnnouncementV1, deps: IntakeDeps, correlation_id: str
) -> Announced:
    now = deps.clock.now()
    group = announcement.operation_group
    facts = {
        "operation": announcement.operation,
        "force_code": announcement.force_code.upper(),
        "district": announcement.district.value,
        "starts_at": announcement.starts_at,
        "ends_at": announcement.ends_at,
        "expected_victims": announcement.expected_victims,
    }
    async with deps.engine.begin() as connection:
        held = (
            await connection.execute(
                sa.select(operations).where(operations.c.operation_group == group)
            )
        ).first()
        if held is not None and all(getattr(held, name) == value for name, value in facts.items()):
            return Announced(group, held.version, Outcome.REPLAYED)
        if held is None:
            version, outcome = 1, Outcome.OPENED
            await connection.execute(
                operations.insert().values(
                    operation_group=group, version=version, announced_at=now, updated_at=now,
                    **facts,
                )
            )  # fmt: skip
        else:
            version, outcome = held.version + 1, Outcome.UPDATED
            changed = await connection.execute(
                operations.update()
                .where(operations.c.operation_group == group, operations.c.version == held.version)
                .values(version=version, updated_at=now, **facts)
            )
            if changed.rowcount != 1:  # another change won: read it and decide again
                raise _Raced
        event = OperationAnnouncedV1(
            occurred_at=now,
            correlation_id=correlation_id,
            producer=PRODUCER,
            operation=announcement.operation,
            operation_group=group,
            force_code=announcement.force_code.upper(),
            district=announcement.district,
            starts_at=announcement.starts_at,
            ends_at=announcement.ends_at,
            expected_victims=announcement.expected_victims,
            version=version,
        )
        await enqueue(connection, outbox, deps.referrals_topic, group, event)
    return Announced(group, version, outcome)
