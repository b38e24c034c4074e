"""What the notifier says, to whom, on which channel and when (services/notifier/domain.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, get_args

import pytest

from services.notifier.domain import (
    ACK_CODE_ALPHABET,
    PlannedStep,
    channels_for,
    district_name,
    fallback_channel,
    new_ack_code,
    plan_steps,
    referral_fields,
    render_message,
    resolve_targets,
    retry_delay_seconds,
    routine_start,
)
from services.notifier.policy import (
    ALLOWED_FIELDS,
    SMS_LIMIT,
    AlertingPolicy,
    Templates,
    load_policy,
    render,
)
from shared.clock import LONDON
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
from shared.rota import ChannelKind, Person, Role, Rota, load_rota
from tests.unit.builders import ROOT, ROTA_FILE

ALERTING_FILE = ROOT / "deploy" / "config" / "alerting.yaml"
CASE = "MS-2026-7KQ2M4"
ACK = {"ack_link": "https://alerts.example/ack/TOKEN", "ack_code": "ABCD2345"}
DAYTIME = datetime(2026, 6, 15, 11, 0, tzinfo=UTC)  # Monday 12:00 BST: advisor-day
NIGHT = datetime(2026, 6, 15, 22, 0, tzinfo=UTC)  # Monday 23:00 BST: advisor-night
TemplateKind = Literal[
    "referral", "child_referral", "grouped", "reminder", "agenda", "rota_gap",
    "heartbeat", "pipeline_quiet", "pipeline_cleared",
]  # fmt: skip
TEMPLATE_KINDS: tuple[TemplateKind, ...] = get_args(TemplateKind)
SMS, VOICE, EMAIL, CHAT = ChannelKind.SMS, ChannelKind.VOICE, ChannelKind.EMAIL, ChannelKind.CHAT


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
        "operation_group": "canfrc:op-canary-group",
    }
    fields.update(changes)
    return ReferralOpenedV1(**fields)


def _child_event(**changes: Any) -> ChildReferralOpenedV1:
    fields = _event(pathway=Pathway.CHILD).model_dump(exclude={"event_type"})
    return ChildReferralOpenedV1(**(fields | changes))


def _person(*kinds: ChannelKind) -> Person:
    return Person(
        id="p", role=Role.ADVISOR, channels={kind: f"json://localhost/{kind}" for kind in kinds}
    )


@pytest.fixture(scope="module")
def policy() -> AlertingPolicy:
    return load_policy(ALERTING_FILE)


@pytest.fixture
def rota() -> Rota:
    return load_rota(ROTA_FILE, environ={})


def _london(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LONDON)


# --- Fields and messages ------------------------------------------------------------------------


def test_referral_fields_are_the_allow_listed_facts_in_london_time() -> None:
    assert referral_fields(_event(), "Europe/London") == {
        "case_reference": CASE,
        "urgency": "immediate",
        "URGENCY": "IMMEDIATE",
        "district": "Great Yarmouth",
        "time": "00:30 15 Jun 2026",
        "operation": "Op Canary",
    }


def test_referral_fields_in_winter_and_without_operation() -> None:
    event = _event(
        recorded_at=datetime(2026, 1, 5, 23, 30, tzinfo=UTC),
        operation=None,
        urgency=Urgency.ROUTINE,
        district=District.KINGS_LYNN_WEST_NORFOLK,
    )
    assert referral_fields(event, "Europe/London") == {
        "case_reference": CASE,
        "urgency": "routine",
        "URGENCY": "ROUTINE",
        "district": "Kings Lynn West Norfolk",
        "time": "23:30 05 Jan 2026",
        "operation": "none recorded",
    }


def test_a_time_at_the_calendars_edge_still_gives_an_alert_text() -> None:
    """Found by the consumer fuzz: a referral recorded at 0001-01-01T00:00Z is a valid event, but
    London's offset before 1847 falls before year 1 and `astimezone` raised OverflowError, so the
    notifier dead-lettered a referral instead of alerting. It now shows the time as written."""
    event = _event(recorded_at=datetime(1, 1, 1, tzinfo=UTC))
    assert referral_fields(event, "Europe/London")["time"] == "00:00 01 Jan 1"


def test_referral_fields_say_nothing_else_from_the_event() -> None:
    event = _child_event()
    rendered = " ".join(referral_fields(event, "Europe/London").values()).lower()
    for other in (
        "canary-correlation-5", "canary-producer", "canfrc", "organ", "financial", "declined",
        "child", "op-canary-group", str(event.event_id), "true", "false",
    ):  # fmt: skip
        assert other not in rendered


@pytest.mark.parametrize(
    ("district", "name"),
    [("norwich", "Norwich"), ("great_yarmouth", "Great Yarmouth"),
     ("outside_norfolk", "Outside Norfolk")],
)  # fmt: skip
def test_district_name(district: str, name: str) -> None:
    assert district_name(district) == name


def _fields(**changes: str) -> dict[str, str]:
    return referral_fields(_event(), "Europe/London") | ACK | changes


REFERRAL = Templates(
    title="[{URGENCY}] referral {case_reference}",
    body="Case {case_reference}\nDistrict: {district}\nAt: {time}\nAck: {ack_link} ({ack_code})",
    short="{URGENCY} {case_reference} {district}. Ack {ack_code}",
)


@pytest.mark.parametrize("channel", [SMS, VOICE])
def test_sms_and_voice_use_the_short_template(channel: ChannelKind) -> None:
    message = render_message(REFERRAL, _fields(), channel)
    assert message.title == f"[IMMEDIATE] referral {CASE}"
    assert message.body == f"IMMEDIATE {CASE} Great Yarmouth. Ack ABCD2345"


@pytest.mark.parametrize("channel", [EMAIL, CHAT])
def test_email_and_chat_use_the_body(channel: ChannelKind) -> None:
    message = render_message(REFERRAL, _fields(), channel)
    assert message.title == f"[IMMEDIATE] referral {CASE}"
    assert message.body == (
        f"Case {CASE}\n"
        "District: Great Yarmouth\n"
        "At: 00:30 15 Jun 2026\n"
        "Ack: https://alerts.example/ack/TOKEN (ABCD2345)"
    )


@pytest.mark.parametrize(("kind", "child"), [("referral", False), ("child_referral", True)])
def test_shipped_referral_templates_say_the_case_and_the_ack(
    policy: AlertingPolicy, kind: TemplateKind, child: bool
) -> None:
    fields = _fields(urgency="priority", URGENCY="PRIORITY")
    sms = render_message(policy.templates[kind], fields, SMS)
    email = render_message(policy.templates[kind], fields, EMAIL)
    assert sms.title == email.title == render(policy.templates[kind].title, fields)
    assert sms.body == render(policy.templates[kind].short, fields)
    assert email.body == render(policy.templates[kind].body, fields)
    for message in (sms, email):
        assert CASE in message.body
        assert "ABCD2345" in message.body
        assert "https://alerts.example/ack/TOKEN" in message.body
        assert ("CHILD" in message.title) is child
        assert "PRIORITY" in message.title


GROUPED = Templates(
    title="{count} more from {operation}",
    body="{count} more from {operation}:\n{case_references}\nAck: {ack_link} ({ack_code})",
    short="{count} more from {operation}: {case_references}. Ack {ack_code}",
)
REFERENCES = [f"MS-2026-{number:06d}" for number in range(40)]


@pytest.mark.parametrize("channel", [SMS, VOICE])
def test_short_message_is_cut_to_two_sms_segments(channel: ChannelKind) -> None:
    references = ", ".join(REFERENCES)
    fields = {"count": "40", "operation": "Op Canary", "case_references": references, **ACK}
    message = render_message(GROUPED, fields, channel)
    full = f"40 more from Op Canary: {references}. Ack ABCD2345"
    assert len(full) > SMS_LIMIT
    assert len(message.body) == SMS_LIMIT == 306
    assert message.body == full[:306]
    assert message.title == "40 more from Op Canary"


@pytest.mark.parametrize("channel", [SMS, VOICE])
def test_short_message_of_exactly_the_limit_is_kept_whole(channel: ChannelKind) -> None:
    fields = {"count": "2", "operation": "Op X", "case_references": "R" * 274, **ACK}
    body = render_message(GROUPED, fields, channel).body
    assert body == f"2 more from Op X: {'R' * 274}. Ack ABCD2345"
    assert len(body) == 306


@pytest.mark.parametrize("channel", [EMAIL, CHAT])
def test_long_email_and_chat_body_is_not_cut(channel: ChannelKind) -> None:
    references = "\n".join(REFERENCES)
    fields = {"count": "40", "operation": "Op Canary", "case_references": references, **ACK}
    body = render_message(GROUPED, fields, channel).body
    assert body == (
        f"40 more from Op Canary:\n{references}\nAck: https://alerts.example/ack/TOKEN (ABCD2345)"
    )
    assert len(body) > SMS_LIMIT


LONG_FIELDS = {name: f"<{name}:{'x' * 300}>" for name in sorted(ALLOWED_FIELDS)}


@pytest.mark.parametrize("kind", TEMPLATE_KINDS)
def test_every_shipped_template_fits_sms_and_keeps_email_whole(
    policy: AlertingPolicy, kind: TemplateKind
) -> None:
    templates = policy.templates[kind]
    for channel in (SMS, VOICE):
        message = render_message(templates, LONG_FIELDS, channel)
        assert message.body == render(templates.short, LONG_FIELDS)[:SMS_LIMIT]
        assert len(message.body) <= SMS_LIMIT
        assert message.title == render(templates.title, LONG_FIELDS)
    for channel in (EMAIL, CHAT):
        message = render_message(templates, LONG_FIELDS, channel)
        assert message.body == render(templates.body, LONG_FIELDS)
        assert message.title == render(templates.title, LONG_FIELDS)


def test_shipped_referral_short_messages_fit_and_end_with_the_ack(
    policy: AlertingPolicy,
) -> None:
    for kind in ("referral", "child_referral"):
        for channel in (SMS, VOICE):
            body = render_message(policy.templates[kind], _fields(), channel).body
            assert len(body) <= SMS_LIMIT
            assert body.endswith("Ack ABCD2345 https://alerts.example/ack/TOKEN")


# --- Planning escalation steps ------------------------------------------------------------------


def _delays(steps: list[PlannedStep], start: datetime) -> list[float]:
    return [(step.due_at - start) / timedelta(minutes=1) for step in steps]


def test_immediate_plan_uses_the_shipped_delays(policy: AlertingPolicy) -> None:
    steps = plan_steps(policy, Urgency.IMMEDIATE, DAYTIME)
    assert [step.step for step in steps] == list(range(8))
    assert _delays(steps, DAYTIME) == [0, 5, 10, 15, 30, 45, 60, 75]
    assert [step.targets for step in steps] == [
        ("on_duty",), ("on_duty",), ("backup",), ("head_of_service",),
        *[("head_of_service", "backup")] * 4,
    ]  # fmt: skip
    assert steps[0] == PlannedStep(0, DAYTIME, ("on_duty",))


def test_priority_plan_starts_at_once(policy: AlertingPolicy) -> None:
    saturday_night = _london("2026-06-13T23:00")
    steps = plan_steps(policy, Urgency.PRIORITY, saturday_night)
    assert _delays(steps, saturday_night) == [0, 30, 60, 120, 180]
    assert steps[0].due_at == saturday_night


def test_child_first_targets_join_the_first_step_only(policy: AlertingPolicy) -> None:
    first = ("childrens_safeguarding", "meeting_coordinator")
    plain = plan_steps(policy, Urgency.IMMEDIATE, DAYTIME)
    child = plan_steps(policy, Urgency.IMMEDIATE, DAYTIME, first_targets=first)
    assert child[0] == PlannedStep(
        0, DAYTIME, ("on_duty", "childrens_safeguarding", "meeting_coordinator")
    )
    assert child[1:] == plain[1:]


def test_first_targets_are_not_duplicated(policy: AlertingPolicy) -> None:
    first = ("childrens_safeguarding", "on_duty", "childrens_safeguarding", "person:coordinator")
    steps = plan_steps(policy, Urgency.PRIORITY, DAYTIME, first_targets=first)
    assert steps[0].targets == ("on_duty", "childrens_safeguarding", "person:coordinator")


def test_routine_plan_waits_for_working_hours(policy: AlertingPolicy) -> None:
    steps = plan_steps(policy, Urgency.ROUTINE, _london("2026-06-13T10:00"))
    assert steps == [
        PlannedStep(0, _london("2026-06-15T09:00"), ("on_duty",)),
        PlannedStep(1, _london("2026-06-15T17:00"), ("head_of_service",)),
    ]


def test_routine_plan_within_working_hours_starts_at_once(policy: AlertingPolicy) -> None:
    steps = plan_steps(policy, Urgency.ROUTINE, DAYTIME)
    assert [step.due_at for step in steps] == [DAYTIME, DAYTIME + timedelta(hours=8)]


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        pytest.param("2026-06-13T10:00", "2026-06-15T09:00", id="saturday"),
        pytest.param("2026-06-14T23:59", "2026-06-15T09:00", id="sunday_night"),
        pytest.param("2026-06-12T16:59", "2026-06-12T16:59", id="friday_16_59_unchanged"),
        pytest.param("2026-06-12T17:00", "2026-06-15T09:00", id="friday_17_00"),
        pytest.param("2026-06-15T08:59", "2026-06-15T09:00", id="monday_08_59"),
        pytest.param("2026-06-15T09:00", "2026-06-15T09:00", id="monday_09_00_unchanged"),
        pytest.param("2026-06-16T00:30", "2026-06-16T09:00", id="tuesday_after_midnight"),
        pytest.param("2026-08-28T17:30", "2026-09-01T09:00", id="friday_before_bh_monday"),
        pytest.param("2026-08-30T12:00", "2026-09-01T09:00", id="sunday_before_bh_monday"),
        pytest.param("2026-08-31T10:00", "2026-09-01T09:00", id="bank_holiday_monday"),
        pytest.param("2026-04-02T18:00", "2026-04-07T09:00", id="easter"),
        pytest.param("2026-12-24T17:30", "2026-12-29T09:00", id="christmas"),
        pytest.param("2026-03-28T12:00", "2026-03-30T09:00", id="over_spring_forward"),
        pytest.param("2026-10-24T12:00", "2026-10-26T09:00", id="over_fall_back"),
    ],
)
def test_routine_start(policy: AlertingPolicy, local: str, expected: str) -> None:
    result = routine_start(policy, _london(local))
    assert result == _london(expected)
    assert result.tzinfo is not None
    assert str(result.tzinfo) == "Europe/London"
    assert result.replace(tzinfo=None) == datetime.fromisoformat(expected)


def test_routine_start_from_utc_is_london_opening_time(policy: AlertingPolicy) -> None:
    result = routine_start(policy, datetime(2026, 3, 28, 12, tzinfo=UTC))
    assert result == datetime(2026, 3, 30, 8, tzinfo=UTC)  # 09:00 BST
    assert str(result.tzinfo) == "Europe/London"
    assert result.utcoffset() == timedelta(hours=1)
    in_hours = datetime(2026, 1, 7, 16, 59, tzinfo=UTC)  # 16:59 GMT, a Wednesday
    assert routine_start(policy, in_hours) == in_hours
    assert routine_start(policy, in_hours + timedelta(minutes=1)) == datetime(
        2026, 1, 8, 9, tzinfo=UTC
    )


# --- Whom each step reaches ---------------------------------------------------------------------


def _ids(people: tuple[Person, ...]) -> list[str]:
    return [person.id for person in people]


@pytest.mark.parametrize(
    ("targets", "day", "night"),
    [
        (("on_duty",), ["advisor-day"], ["advisor-night"]),
        (("backup",), ["advisor-night"], ["advisor-day"]),
        (("head_of_service",), ["head-of-service"], ["head-of-service"]),
        (("meeting_coordinator",), ["coordinator"], ["coordinator"]),
        (("childrens_safeguarding",), ["childrens-safeguarding"], ["childrens-safeguarding"]),
        (("person:coordinator",), ["coordinator"], ["coordinator"]),
        (("person:advisor-night",), ["advisor-night"], ["advisor-night"]),
        (("person:ghost",), ["advisor-day"], ["advisor-night"]),
        (
            ("on_duty", "childrens_safeguarding", "meeting_coordinator"),
            ["advisor-day", "childrens-safeguarding", "coordinator"],
            ["advisor-night", "childrens-safeguarding", "coordinator"],
        ),
        (
            ("head_of_service", "backup"),
            ["head-of-service", "advisor-night"],
            ["head-of-service", "advisor-day"],
        ),
    ],
)
def test_resolve_targets(
    rota: Rota, targets: tuple[str, ...], day: list[str], night: list[str]
) -> None:
    assert _ids(resolve_targets(rota, targets, DAYTIME)) == day
    assert _ids(resolve_targets(rota, targets, NIGHT)) == night


def test_resolve_targets_has_no_duplicates(rota: Rota) -> None:
    targets = ("on_duty", "person:advisor-day", "backup", "person:ghost", "on_duty", "backup",
               "head_of_service", "person:head-of-service")  # fmt: skip
    assert _ids(resolve_targets(rota, targets, DAYTIME)) == [
        "advisor-day",
        "advisor-night",
        "head-of-service",
    ]


def test_resolve_targets_with_no_target(rota: Rota) -> None:
    assert resolve_targets(rota, (), DAYTIME) == ()


def test_unknown_target_is_a_programming_error(rota: Rota) -> None:
    with pytest.raises(ValueError, match="everyone"):
        resolve_targets(rota, ("everyone",), DAYTIME)


SMALL_ROTA = """
people:
  - {id: solo, role: advisor, channels: {email: 'json://localhost/solo'}}
  - {id: kids, role: childrens_safeguarding, channels: {email: 'json://localhost/kids'}}
weekly:
  - {days: [mon, tue, wed, thu, fri, sat, sun, bank_holiday], start: '00:00', end: '00:00', person: solo}
last_resort: kids
"""


@pytest.mark.parametrize(
    ("targets", "expected"),
    [
        (("on_duty",), ["solo"]),
        (("backup",), ["kids"]),
        (("head_of_service",), ["kids"]),
        (("meeting_coordinator",), []),
        (("on_duty", "backup", "head_of_service", "childrens_safeguarding"), ["solo", "kids"]),
    ],
    ids=["on_duty", "backup_falls_back", "no_head", "no_coordinator", "together"],
)
def test_missing_roles_fall_back_to_the_last_resort(
    tmp_path: Path, targets: tuple[str, ...], expected: list[str]
) -> None:
    path = tmp_path / "rota.yaml"
    path.write_text(SMALL_ROTA)
    small = load_rota(path, environ={})
    assert _ids(resolve_targets(small, targets, DAYTIME)) == expected


# --- Channels -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("urgency", "expected"),
    [
        (Urgency.IMMEDIATE, (SMS, VOICE, EMAIL)),
        (Urgency.PRIORITY, (SMS, EMAIL)),
        (Urgency.ROUTINE, (EMAIL,)),
    ],
)
def test_channels_for_picks_the_urgency_kinds_the_person_has(
    policy: AlertingPolicy, urgency: Urgency, expected: tuple[ChannelKind, ...]
) -> None:
    assert channels_for(_person(SMS, VOICE, EMAIL), policy.channels[urgency]) == expected


@pytest.mark.parametrize(
    ("kinds", "wanted", "expected"),
    [
        ((EMAIL,), (SMS, VOICE, EMAIL), (EMAIL,)),
        ((VOICE, EMAIL), (SMS, EMAIL), (EMAIL,)),
        ((CHAT,), (SMS, VOICE, EMAIL), (CHAT,)),
        ((VOICE, CHAT), (SMS, EMAIL), (VOICE,)),
        ((CHAT, EMAIL), (SMS,), (CHAT,)),
    ],
    ids=["email_only", "subset", "none_wanted", "first_of_two", "first_not_email"],
)
def test_channels_for_with_fewer_channels(
    kinds: tuple[ChannelKind, ...],
    wanted: tuple[ChannelKind, ...],
    expected: tuple[ChannelKind, ...],
) -> None:
    assert channels_for(_person(*kinds), wanted) == expected


def test_shipped_rota_people_get_email_for_every_urgency(
    policy: AlertingPolicy, rota: Rota
) -> None:
    for person in rota.people:
        for urgency in Urgency:
            assert channels_for(person, policy.channels[urgency]) == (EMAIL,)


@pytest.mark.parametrize(
    ("used", "expected"),
    [
        (set(), SMS),
        ({"sms"}, VOICE),
        ({"sms", "voice"}, EMAIL),
        ({"voice"}, SMS),
        ({"sms", "email"}, VOICE),
        ({"sms", "voice", "email"}, None),
        ({"sms", "voice", "email", "chat"}, None),
    ],
)
def test_fallback_channel_is_the_next_unused_in_the_person_order(
    used: set[str], expected: ChannelKind | None
) -> None:
    assert fallback_channel(_person(SMS, VOICE, EMAIL), used) == expected


def test_fallback_channel_follows_the_person_order_not_the_kind_order() -> None:
    person = _person(EMAIL, CHAT, SMS)
    assert fallback_channel(person, {"email"}) == CHAT
    assert fallback_channel(person, {"email", "chat"}) == SMS


# --- Retries and codes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempts", "delay"),
    [(0, 1.0), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 16.0), (6, 32.0), (7, 60.0),
     (11, 60.0), (10_000, 60.0)],
)  # fmt: skip
def test_retry_delay_grows_and_is_capped(attempts: int, delay: float) -> None:
    assert retry_delay_seconds(attempts) == delay


def test_retry_delay_never_shrinks_and_honours_a_custom_cap() -> None:
    delays = [retry_delay_seconds(attempt) for attempt in range(1, 30)]
    assert delays == sorted(delays)
    assert max(delays) == 60.0
    assert retry_delay_seconds(4, cap=5.0) == 5.0
    assert retry_delay_seconds(2, cap=5.0) == 2.0
    assert isinstance(retry_delay_seconds(3), float)


def test_ack_code_alphabet_has_no_lookalikes() -> None:
    assert len(ACK_CODE_ALPHABET) == len(set(ACK_CODE_ALPHABET)) == 32
    assert not set(ACK_CODE_ALPHABET) & set("01IO")


def test_new_ack_code_is_twelve_characters_of_the_alphabet_in_groups_of_four() -> None:
    codes = [new_ack_code() for _ in range(200)]
    for code in codes:
        groups = code.split("-")
        assert [len(group) for group in groups] == [4, 4, 4]
        assert set("".join(groups)) <= set(ACK_CODE_ALPHABET)
    assert codes[0] != codes[1]
    assert len(set(codes)) == 200
