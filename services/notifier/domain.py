"""What the notifier says, to whom and when: pure decisions with an explicit `now`.

Messages are rendered from allow-listed fields only (services/notifier/policy.py): the events the
notifier receives carry no personal data, and the templates cannot name anything but these fields.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from services.notifier.policy import SMS_LIMIT, AlertingPolicy, Target, Templates, render
from shared.events import ReferralFacts, Urgency
from shared.rota import ChannelKind, Person, Role, Rota, backups, on_duty

ACK_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I: read out over the phone
ACK_CODE_CHARACTERS = frozenset(ACK_CODE_ALPHABET)
ACK_CODE_LENGTH = 12  # characters of the alphabet, 5 bits each: 60 bits
ACK_CODE_GROUP = 4  # shown as XXXX-XXXX-XXXX
SHORT_CHANNELS = frozenset({ChannelKind.SMS, ChannelKind.VOICE})


@dataclass(frozen=True)
class PlannedStep:
    step: int
    due_at: datetime
    targets: tuple[str, ...]  # Target values, or "person:<id>"


@dataclass(frozen=True)
class Message:
    title: str
    body: str


@dataclass(frozen=True)
class Notice:
    """Which notice about one alert a person is getting: `number` of the `of` that the alert's
    steps plan for them (later ones stop when someone acknowledges). 1 is the first notice."""

    number: int = 1
    of: int = 1


FIRST_NOTICE = Notice()


def referral_fields(event: ReferralFacts, timezone: str) -> dict[str, str]:
    try:
        local = event.recorded_at.astimezone(ZoneInfo(timezone))
    except OverflowError:  # at the calendar's edge (year 1): alert anyway, the time as written
        local = event.recorded_at
    return {
        "case_reference": event.case_reference,
        "urgency": event.urgency.value,
        "URGENCY": event.urgency.value.upper(),
        "district": district_name(event.district.value),
        "time": local.strftime("%H:%M %d %b %Y"),
        "operation": event.operation or "none recorded",
    }


def district_name(district: str) -> str:
    return district.replace("_", " ").title()


def render_message(
    templates: Templates, fields: dict[str, str], channel: ChannelKind, prefix: str = ""
) -> Message:
    """SMS and voice get the short template, cut to two SMS segments; email and chat the full one.
    `prefix` (a reminder's "Reminder 2 of 3: ") leads the title and the SMS text, so it survives
    the cut and an e-mail reminder has a subject of its own."""
    title = prefix + render(templates.title, fields)
    if channel in SHORT_CHANNELS:
        return Message(title, (prefix + render(templates.short, fields))[:SMS_LIMIT])
    return Message(title, render(templates.body, fields))


def renotify_prefix(policy: AlertingPolicy, notice: Notice) -> str:
    """Nothing on a first notice; the policy's "Reminder {attempt} of {attempts}: " after it."""
    if notice.number <= 1:
        return ""
    fields = {"attempt": str(notice.number), "attempts": str(max(notice.of, notice.number))}
    return render(policy.renotify_prefix, fields)


def notice_for(
    rota: Rota,
    person_id: str,
    earlier_notices: int,
    later_steps: Sequence[tuple[str, ...]],
    now: datetime,
) -> Notice:
    """A person's notice number is one more than the earlier steps of the alert that reached them;
    the total adds the later, still pending steps whose targets include them as the rota stands
    now (a shift change before a step fires can change who it reaches: the total is the plan)."""
    number = earlier_notices + 1
    ahead = sum(
        any(person.id == person_id for person in resolve_targets(rota, targets, now))
        for targets in later_steps
    )
    return Notice(number, number + ahead)


def grouped_fields(
    contacts: Iterable[tuple[str, datetime | None]], operation: str, district: str, urgency: str
) -> dict[str, str]:
    """A burst's follow-up lists its cases in the order the police met them, then by reference
    (the order they reached the notifier depends on Kafka partitions, so it is no order at all).
    A case without a recorded time (batched before the times were kept) comes last."""
    latest = datetime.max.replace(tzinfo=UTC)
    ordered = sorted(dict(contacts).items(), key=lambda item: (item[1] or latest, item[0]))
    references = [reference for reference, _ in ordered]
    return {
        "count": str(len(references)),
        "case_references": ", ".join(references),
        "operation": operation,
        "district": district_name(district),
        "urgency": urgency,
        "URGENCY": urgency.upper(),
    }


def plan_steps(
    policy: AlertingPolicy,
    urgency: Urgency,
    raised_at: datetime,
    first_targets: tuple[str, ...] = (),
) -> list[PlannedStep]:
    """The escalation policy for `urgency`, snapshotted as concrete due times. `first_targets` are
    added to the first step (a child's alert goes to children's safeguarding at once)."""
    start = routine_start(policy, raised_at) if urgency is Urgency.ROUTINE else raised_at
    planned = []
    for number, (delay, targets) in enumerate(policy.escalation[urgency].schedule()):
        names = tuple(target.value for target in targets)
        if number == 0:
            names = tuple(dict.fromkeys((*names, *first_targets)))
        planned.append(PlannedStep(number, start + delay, names))
    return planned


def routine_start(
    policy: AlertingPolicy, moment: datetime, timezone: str = "Europe/London"
) -> datetime:
    """Routine alerts wait for working hours (weekday, not a bank holiday, within routine_hours)."""
    from shared.working_days import is_working_day

    zone = ZoneInfo(timezone)
    local = moment.astimezone(zone)
    opens, closes = policy.routine_hours
    if is_working_day(local.date()) and opens <= local.time() < closes:
        return moment
    day = local.date() if local.time() < opens else local.date() + timedelta(days=1)
    while not is_working_day(day):
        day += timedelta(days=1)
    return datetime.combine(day, opens, tzinfo=zone)


def resolve_targets(rota: Rota, targets: tuple[str, ...], now: datetime) -> tuple[Person, ...]:
    """People for a step, at the moment it fires (so a re-notify reaches whoever is on duty then)."""
    people: list[Person] = []
    for target in targets:
        if target.startswith("person:"):
            person_id = target.removeprefix("person:")
            if any(person.id == person_id for person in rota.people):
                people.append(rota.person(person_id))
            else:
                people.append(on_duty(rota, now))
            continue
        match Target(target):
            case Target.ON_DUTY:
                people.append(on_duty(rota, now))
            case Target.BACKUP:
                people.extend(backups(rota, now) or (rota.person(rota.last_resort),))
            case Target.HEAD_OF_SERVICE:
                people.extend(
                    rota.with_role(Role.HEAD_OF_SERVICE) or (rota.person(rota.last_resort),)
                )
            case Target.COORDINATOR:
                people.extend(rota.with_role(Role.MEETING_COORDINATOR))
            case Target.CHILDRENS_SAFEGUARDING:
                people.extend(rota.with_role(Role.CHILDRENS_SAFEGUARDING))
    return tuple({person.id: person for person in people}.values())


def channels_for(person: Person, wanted: tuple[ChannelKind, ...]) -> tuple[ChannelKind, ...]:
    """The urgency's channel kinds that the person has; if none, their first (preferred) one."""
    chosen = tuple(kind for kind in wanted if kind in person.channels)
    return chosen or person.channel_order()[:1]


def fallback_channel(person: Person, used: set[str]) -> ChannelKind | None:
    """The person's next channel kind, in their order of preference, not yet tried for this step."""
    return next((kind for kind in person.channel_order() if kind.value not in used), None)


def retry_delay_seconds(attempts: int, cap: float = 60.0) -> float:
    """Exponential backoff for a failed delivery, capped at a minute: once a provider is back, an
    alert that waited out its outage goes within a minute, not five."""
    return float(min(cap, 2 ** max(0, attempts - 1)))


def new_ack_code() -> str:
    """Twelve characters of a 32-letter alphabet (60 bits) in three groups of four, `K7Q2-M4XD-9BHT`:
    easy to read out or type on a phone, and far beyond guessing at the rate limit (the arithmetic
    is in services/notifier/ack_limits.py)."""
    raw = "".join(secrets.choice(ACK_CODE_ALPHABET) for _ in range(ACK_CODE_LENGTH))
    return group_ack_code(raw)


def group_ack_code(raw: str) -> str:
    return "-".join(raw[i : i + ACK_CODE_GROUP] for i in range(0, len(raw), ACK_CODE_GROUP))


def normalise_ack_code(typed: str) -> str | None:
    """What a person typed, as stored: case, spaces and dashes do not matter; a lookalike (0 for O,
    1 for I) or a wrong length is None, which is refused like any unknown code."""
    raw = "".join(typed.split()).replace("-", "").upper()
    if len(raw) != ACK_CODE_LENGTH or not set(raw) <= ACK_CODE_CHARACTERS:
        return None
    return group_ack_code(raw)
