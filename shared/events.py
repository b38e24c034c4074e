"""Versioned, frozen event models. Facts are past tense; each carries the same envelope.

No event may carry a direct identifier (name, date of birth, phone, address, nationality, notes):
the case reference is the only link back to a person, and only intake's vault can follow it.
"""

from __future__ import annotations

import re
import uuid
from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

# Text the notifier renders into SMS and email must have a shape that cannot carry a name or a
# phone number: an event from a buggy producer with a name in a case reference is then a dead
# letter, not a message (found by the fault suite's fuzz).
CaseReference = Annotated[
    str, Field(pattern=r"^MS-\d{4}-[A-Z0-9]{4,12}$", description="e.g. MS-2026-7KQ2M4")
]
TaskKind = Annotated[str, Field(pattern=r"^[a-z][a-z_]{0,63}$", description="e.g. healthcare")]
# Ids made by a producer (a UUID today) and stored by consumers in 64-character columns: a longer
# one was a valid event that PostgreSQL refused (found by the fault suite's fuzz).
RecordId = Annotated[str, Field(min_length=1, max_length=64, description="e.g. a UUID")]
# A correlation id arrives from outside (an HTTP header, a Kafka record header) and reaches every
# log line and event: a UUID or a short token, nothing that could carry a sentence. Empty means
# unknown (a dead letter of a record that had none).
CORRELATION_ID_PATTERN = r"^([A-Za-z0-9][A-Za-z0-9._:-]{0,63})?$"
CorrelationId = Annotated[
    str,
    Field(
        pattern=CORRELATION_ID_PATTERN,
        description="Ties every event caused by one police contact together.",
    ),
]


def trusted_correlation_id(value: object) -> str | None:
    """`value` if it has the shape of a correlation id, else None (the caller makes a new one).
    Never refuses the message that carried it: a tracing header is no reason to lose a contact."""
    if isinstance(value, str) and value and re.fullmatch(CORRELATION_ID_PATTERN, value):
        return value
    return None


class Event(BaseModel):
    """The envelope every event shares."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    occurred_at: AwareDatetime
    correlation_id: CorrelationId
    causation_id: str | None = Field(
        default=None, description="event_id of the event that caused this one."
    )
    producer: str = Field(description="The service that published the event.")


class District(StrEnum):
    BRECKLAND = "breckland"
    BROADLAND = "broadland"
    GREAT_YARMOUTH = "great_yarmouth"
    KINGS_LYNN_WEST_NORFOLK = "kings_lynn_west_norfolk"
    NORTH_NORFOLK = "north_norfolk"
    NORWICH = "norwich"
    SOUTH_NORFOLK = "south_norfolk"
    OUTSIDE_NORFOLK = "outside_norfolk"


class ExploitationType(StrEnum):
    LABOUR = "labour"
    SEXUAL = "sexual"
    CRIMINAL = "criminal"
    DOMESTIC_SERVITUDE = "domestic_servitude"
    ORGAN_HARVESTING = "organ_harvesting"
    UNKNOWN = "unknown"


class SupportNeed(StrEnum):
    LEGAL_ADVICE = "legal_advice"
    IMMIGRATION_ADVICE = "immigration_advice"
    HEALTHCARE = "healthcare"
    MENTAL_HEALTH = "mental_health"
    HOUSING = "housing"
    SAFE_ACCOMMODATION = "safe_accommodation"
    FINANCIAL_SUPPORT = "financial_support"
    EMPLOYMENT = "employment"
    EDUCATION = "education"
    INTERPRETER = "interpreter"
    SUBSTANCE_MISUSE = "substance_misuse"
    OTHER = "other"


class NrmConsent(StrEnum):
    GIVEN = "given"
    DECLINED = "declined"
    NOT_ASKED = "not_asked"


class Pathway(StrEnum):
    CHILD = "child"  # under 18, or age unknown: children's safeguarding, mandatory NRM
    NRM = "nrm"  # adult, consent given: police refer, Salvation Army support
    DUTY_TO_NOTIFY = "duty_to_notify"  # adult, consent declined: anonymous notification
    NRM_DECISION_PENDING = "nrm_decision_pending"  # adult, not asked: advisor explains the NRM


class Urgency(StrEnum):
    IMMEDIATE = "immediate"
    PRIORITY = "priority"
    ROUTINE = "routine"


class ReferralFacts(Event):
    """Non-identifying facts about a case, as intake decided them."""

    case_reference: CaseReference
    force_code: str
    recorded_at: AwareDatetime
    district: District
    exploitation_types: tuple[ExploitationType, ...]
    pathway: Pathway
    age_unknown: bool = Field(
        description="No date of birth or age estimate: treated as a possible child."
    )
    urgency: Urgency
    immediate_risk: bool
    nrm_consent: NrmConsent
    support_needs: tuple[SupportNeed, ...]
    operation: str | None = Field(
        default=None, description="Police operation name, as the police wrote it."
    )
    operation_group: str | None = Field(
        default=None, description="Normalised force + operation key grouping one raid's contacts."
    )


class ReferralOpenedV1(ReferralFacts):
    """A new case was opened from a police contact."""

    event_type: Literal["referral.opened.v1"] = "referral.opened.v1"


class ChildReferralOpenedV1(ReferralFacts):
    """A child (or a person whose age is unknown) was met. This service does not take the case,
    but it must never be dropped: the children's safeguarding contact and the coordinator are
    alerted at once, and casework tracks the handover. NRM referral is mandatory for children."""

    event_type: Literal["child_referral.opened.v1"] = "child_referral.opened.v1"


class ReferralUpdatedV1(ReferralFacts):
    """The police sent a changed contact for an existing case; the facts are the new ones."""

    event_type: Literal["referral.updated.v1"] = "referral.updated.v1"


ReferralEvent = Annotated[
    ReferralOpenedV1 | ChildReferralOpenedV1 | ReferralUpdatedV1, Field(discriminator="event_type")
]


class HeartbeatV1(Event):
    """A synthetic heartbeat (the dead-man's switch): intake emits one every minute onto the ingress
    topic and relays it here like a referral, so it takes the path a police contact takes. It
    carries no case and no person; every consumer ignores it except the notifier, which makes one
    delivery attempt to the gateway's heartbeat target and records the time it went end to end."""

    event_type: Literal["heartbeat.v1"] = "heartbeat.v1"
    sequence: int = Field(ge=0, description="Counts up from 0 each time intake starts.")


class OperationAnnouncedV1(Event):
    """The police announced an operation ahead (signed, like a contact), or changed its window,
    district or expected number: `version` counts from 1 and the highest is current. No person:
    the expected number is a planning figure."""

    event_type: Literal["operation.announced.v1"] = "operation.announced.v1"
    # The shapes intake's contract gives them (services/intake/contract.py OperationName): the name
    # reaches SMS, e-mail and the agenda, so it may not carry a sentence.
    operation: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9 .'&/-]{0,47}[A-Za-z0-9]$|^[A-Za-z0-9]$",
        description="Police operation name, as the police wrote it.",
    )
    operation_group: str = Field(
        pattern=r"^[A-Z0-9]{2,8}:[a-z0-9.'&/-]{1,50}$",
        description="The same normalised force + operation key as the referrals' operation_group.",
    )
    force_code: str = Field(pattern=r"^[A-Z0-9]{2,8}$")
    district: District
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    expected_victims: int = Field(ge=1, le=500)
    version: int = Field(ge=1)


# What the referrals topic carries: the referrals, the heartbeat that follows their path, and the
# operations announced ahead (whose referrals follow under the same operation_group).
ReferralTopicEvent = Annotated[
    ReferralOpenedV1
    | ChildReferralOpenedV1
    | ReferralUpdatedV1
    | HeartbeatV1
    | OperationAnnouncedV1,
    Field(discriminator="event_type"),
]


class AlertRaisedV1(Event):
    """The notifier raised an alert (its escalation policy is snapshotted)."""

    event_type: Literal["alert.raised.v1"] = "alert.raised.v1"
    alert_id: str
    kind: str
    urgency: Urgency
    case_references: tuple[CaseReference, ...]


class AlertDeliveredV1(Event):
    """One notification of an alert reached a person on one channel."""

    event_type: Literal["alert.delivered.v1"] = "alert.delivered.v1"
    alert_id: str
    case_references: tuple[CaseReference, ...]
    person_id: str
    channel: str
    attempts: int
    latency_ms: int


class AlertDeliveryFailedV1(Event):
    """A channel gave up after its attempts; the next channel of the person takes over, if any."""

    event_type: Literal["alert.delivery_failed.v1"] = "alert.delivery_failed.v1"
    alert_id: str
    person_id: str
    channel: str
    attempts: int
    fallback_channel: str | None


class AlertEscalatedV1(Event):
    """An escalation step fired because nobody had acknowledged the alert."""

    event_type: Literal["alert.escalated.v1"] = "alert.escalated.v1"
    alert_id: str
    step: int
    targets: tuple[str, ...]
    person_ids: tuple[str, ...]


class AlertAcknowledgedV1(Event):
    """Someone acknowledged the alert: every pending notification and step was cancelled.
    Casework assigns the cases' tasks to `person_id`."""

    event_type: Literal["alert.acknowledged.v1"] = "alert.acknowledged.v1"
    alert_id: str
    case_references: tuple[CaseReference, ...]
    person_id: str
    via: Literal["link", "code", "console"]  # console: signed in as staff (notifier HTTP API)


AlertEvent = Annotated[
    AlertRaisedV1
    | AlertDeliveredV1
    | AlertDeliveryFailedV1
    | AlertEscalatedV1
    | AlertAcknowledgedV1,
    Field(discriminator="event_type"),
]


class TaskOpenedV1(Event):
    """Casework opened a task for a case. Superseded by TasksOpenedV1: casework no longer
    publishes it, and consumers still read it, since records written before stay on the topic for
    its retention (and a dead letter of one may be replayed)."""

    event_type: Literal["task.opened.v1"] = "task.opened.v1"
    case_reference: CaseReference
    task_id: RecordId
    kind: TaskKind
    due_at: AwareDatetime


# More than any referral opens (one task per support need, plus the standard tasks); casework
# splits a larger opening over several events rather than publish an unbounded list.
MAX_TASKS_PER_EVENT = 64


class OpenedTask(BaseModel):
    """One task in a TasksOpenedV1."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    task_id: RecordId
    kind: TaskKind
    due_at: AwareDatetime


class TasksOpenedV1(Event):
    """Casework opened tasks for a case: a referral's tasks together, or the one task a later
    change opened. One record for a case's opening, not one per task: every group that reads the
    topic handles (or skips) it once, and the meeting scheduler records the tasks in one
    transaction instead of one each."""

    event_type: Literal["tasks.opened.v1"] = "tasks.opened.v1"
    case_reference: CaseReference
    tasks: tuple[OpenedTask, ...] = Field(min_length=1, max_length=MAX_TASKS_PER_EVENT)


class TaskOverdueV1(Event):
    """A task passed a chasing threshold: `due` reminds the assignee, `escalated` the head of
    service. Published once per task and threshold."""

    event_type: Literal["task.overdue.v1"] = "task.overdue.v1"
    case_reference: CaseReference
    task_id: RecordId
    kind: TaskKind
    due_at: AwareDatetime
    threshold: Literal["due", "escalated"]
    assignee: str | None = Field(
        default=None, description="Staff id (rota person id), if assigned."
    )


class TaskClosedV1(Event):
    """A task ended: done, not needed, or referred to another organisation."""

    event_type: Literal["task.closed.v1"] = "task.closed.v1"
    case_reference: CaseReference
    task_id: RecordId
    kind: TaskKind
    status: Literal["done", "not_needed", "referred"]
    organisation: str | None = None


class CaseworkFiguresV1(Event):
    """What the service reports to its funder (and the NASN summary uses): counts only."""

    event_type: Literal["casework.figures.v1"] = "casework.figures.v1"
    people_supported: int
    target: int
    open_tasks_by_need: dict[str, int]
    overdue_tasks_by_need: dict[str, int]
    median_hours_to_first_contact: float | None
    referrals_by_organisation: dict[str, int]
    criminal_justice_by_state: dict[str, int] = Field(
        default_factory=dict,
        description="Cases by engagement with the investigation (criminal-justice support); "
        "absent from figures reported before it existed.",
    )
    referrals_by_need_and_outcome: dict[str, dict[str, int]] = Field(
        default_factory=dict,
        description="Onward referrals recorded as records, by need then outcome; absent from "
        "figures reported before they existed.",
    )


class CriminalJusticeReminderV1(Event):
    """Support at a police interview or at court is booked for a case: remind the case's advisor
    `before` the booked time. Published once per booking and offset. No content of the person's
    account exists anywhere to carry."""

    event_type: Literal["criminal_justice.reminder.v1"] = "criminal_justice.reminder.v1"
    case_reference: CaseReference
    booking_id: RecordId
    booking_kind: Literal["interview", "court"]
    booked_at: AwareDatetime
    before: str = Field(
        pattern=r"^[0-9]+(\.[0-9]+)?_(hours|working_days)$", description="e.g. 2_working_days"
    )
    assignee: str | None = Field(
        default=None, description="Staff id (rota person id) of the case's advisor, if known."
    )


# Onward referrals (casework, services/casework/referrals.py): an organisation is a directory
# entry id or a short name with a strict pattern; a decline's reason is one of a fixed list.
ReferralOrganisationId = Annotated[
    str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,63}$", description="A directory entry's id.")
]
ReferralOrganisationName = Annotated[
    str,
    Field(
        pattern=r"^[A-Z0-9][A-Za-z0-9 &'(),./-]{1,79}$",
        description="An organisation not in the directory, by its short name.",
    ),
]
ReferralOutcome = Literal["made", "accepted", "declined", "waiting_list", "completed"]
ReferralDeclineReason = Literal[
    "not_eligible", "no_capacity", "out_of_area", "person_declined", "person_unreachable",
    "need_met_elsewhere", "other_service_more_suitable",
]  # fmt: skip


class ReferralOutcomeRecordedV1(Event):
    """An onward referral was made (outcome `made`) or its outcome changed. No identity: the case
    reference, ids, the need, the organisation and the outcome only."""

    event_type: Literal["referral.outcome_recorded.v1"] = "referral.outcome_recorded.v1"
    case_reference: CaseReference
    task_id: RecordId
    referral_id: RecordId
    kind: TaskKind = Field(description="The task's need, e.g. housing.")
    organisation_id: ReferralOrganisationId | None = None
    organisation_name: ReferralOrganisationName | None = None
    outcome: ReferralOutcome
    decline_reason: ReferralDeclineReason | None = None


class ReferralFollowUpDueV1(Event):
    """An onward referral is still `made` (no answer) after the configured working days: remind
    its advisor. Published once per referral."""

    event_type: Literal["referral.follow_up_due.v1"] = "referral.follow_up_due.v1"
    case_reference: CaseReference
    task_id: RecordId
    referral_id: RecordId
    kind: TaskKind
    organisation_id: ReferralOrganisationId | None = None
    organisation_name: ReferralOrganisationName | None = None
    made_on: date
    assignee: str | None = Field(
        default=None, description="Staff id (rota person id) of the task's assignee, if any."
    )


# The funder's quarterly report (issue #15 part 6). Financial quarters start in April: Q1 is
# April to June. A quarter is named by its financial year and number, e.g. 2026-27-Q3 (October to
# December 2026), so a URL and a file name can carry it.
FinancialQuarter = Annotated[
    str,
    Field(pattern=r"^\d{4}-\d{2}-Q[1-4]$", description="e.g. 2026-27-Q3 (October-December 2026)"),
]
Count = Annotated[int, Field(ge=0)]


class QuarterCaseworkFigures(BaseModel):
    """Casework's figures for one period (a quarter, or the project to date). Raw counts: the
    report suppresses small numbers when it renders them, as the NASN agenda does."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    people_supported: Count = Field(description="Cases opened (first referral) in the period.")
    children: Count
    adults_declined_nrm: Count = Field(description="Adults whose NRM consent was declined.")
    adults_other: Count = Field(description="Adults who consented, or whose consent is unknown.")
    hours_to_first_contact_median: float | None = Field(default=None, ge=0)
    hours_to_first_contact_p90: float | None = Field(default=None, ge=0)
    alerts_acknowledged: Count = Field(description="Cases whose alert was acknowledged.")
    alerts_acknowledged_within_target: Count
    referrals_by_need_and_outcome: dict[str, dict[str, Count]] = Field(default_factory=dict)
    criminal_justice_by_state: dict[str, Count] = Field(default_factory=dict)


class CaseworkQuarterV1(Event):
    """Casework closed a financial quarter: its figures for the quarter and for the project to
    date. The meeting scheduler adds its own (training, NASN meetings, operations), renders the
    funder's report and publishes it. Published once per quarter; a rebuild asked for by the head
    of service publishes it again with a higher `version`. Counts only: no case reference."""

    event_type: Literal["casework.quarter.v1"] = "casework.quarter.v1"
    quarter: FinancialQuarter
    starts_on: date
    ends_on: date = Field(description="The quarter's last day (inclusive), Europe/London.")
    project_starts: date
    target: int = Field(ge=1, description="People to support over the project (e.g. 100).")
    version: int = Field(ge=1)
    quarter_figures: QuarterCaseworkFigures
    to_date: QuarterCaseworkFigures


TaskEvent = Annotated[
    TasksOpenedV1
    | TaskOpenedV1
    | TaskOverdueV1
    | TaskClosedV1
    | CaseworkFiguresV1
    | CriminalJusticeReminderV1
    | ReferralOutcomeRecordedV1
    | ReferralFollowUpDueV1
    | CaseworkQuarterV1,
    Field(discriminator="event_type"),
]


class AgendaAttachment(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    filename: str
    content_type: str
    content_base64: str


class AgendaPublishedV1(Event):
    """A meeting's agenda was published (or revised) for the coordinator."""

    event_type: Literal["agenda.published.v1"] = "agenda.published.v1"
    meeting_series: str
    meeting_starts_at: AwareDatetime
    title: str
    version: int
    attachments: tuple[AgendaAttachment, ...] = ()
    recipients: tuple[str, ...] = Field(
        default=("meeting_coordinator",), description="Roles or person:<rota id> to send it to."
    )


class AgendaItemAddedV1(Event):
    """A case was put on a meeting's agenda."""

    event_type: Literal["agenda.item_added.v1"] = "agenda.item_added.v1"
    case_reference: CaseReference
    meeting_series: str
    meeting_starts_at: AwareDatetime
    late: bool


class TrainingPaceWarningV1(Event):
    """Training and awareness sessions held are behind the straight-line pace to the funder's
    target (services/meeting_scheduler/training.py): the head of service is told. Counts and
    dates only: no topic, audience or name. Published once per shortfall level (`expected_by_now`)."""

    event_type: Literal["training.pace_warning.v1"] = "training.pace_warning.v1"
    meeting_series: str = Field(pattern=r"^[a-z][a-z0-9-]{0,63}$", description="e.g. training")
    held: int = Field(ge=0, description="Sessions held (attendance recorded) in the period.")
    expected_by_now: int = Field(
        ge=1,
        description="floor(target x elapsed / period): sessions due by now on a straight line.",
    )
    target: int = Field(ge=1)
    project_starts: date
    period_ends: date


class FunderReportPublishedV1(Event):
    """The funder's quarterly report for a financial quarter (issue #15 part 6), built by the
    meeting scheduler from casework's CaseworkQuarterV1 and its own figures: the PDF and the CSV
    attached, for the head of service (the notifier e-mails them). Small numbers are suppressed in
    both ("<3"); no case reference. A rebuild is published again with a higher `version`."""

    event_type: Literal["funder_report.published.v1"] = "funder_report.published.v1"
    quarter: FinancialQuarter
    version: int = Field(ge=1)
    title: str
    attachments: tuple[AgendaAttachment, ...] = ()
    recipients: tuple[str, ...] = Field(
        default=("head_of_service",), description="Roles or person:<rota id> to send it to."
    )


AgendaEvent = Annotated[
    AgendaItemAddedV1 | AgendaPublishedV1 | TrainingPaceWarningV1 | FunderReportPublishedV1,
    Field(discriminator="event_type"),
]


class DeadLetterV1(Event):
    """A record a consumer gave up on. It carries no payload: the original stays in its topic
    (source_topic/partition/offset) so personal data is never copied here in plaintext."""

    event_type: Literal["dead_letter.v1"] = "dead_letter.v1"
    consumer: str
    source_topic: str
    source_partition: int
    source_offset: int
    payload_sha256: str
    payload_bytes: int
    error_type: str
    reason: str
    attempts: int
    # When the original was stamped (Kafka timestamp and its type, 1 = the broker's append time):
    # a replay is judged as the original was, not as a fresh record (shared/replay.py). Absent
    # from letters written before replays existed; those cannot be replayed.
    source_timestamp_ms: int | None = None
    source_timestamp_type: int | None = None
