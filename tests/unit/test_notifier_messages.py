"""Messages a person reads right: a count agrees with its noun, a reminder says which notice it is
(in the SMS and the e-mail subject), and a grouped follow-up lists its cases in the order the
police met them. Expected texts are written out by hand from deploy/config/alerting.yaml."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from services.notifier.domain import (
    Notice,
    grouped_fields,
    notice_for,
    render_message,
    renotify_prefix,
)
from services.notifier.policy import SMS_LIMIT, AlertingPolicy, Templates, load_policy, render
from shared.events import Urgency
from shared.rota import ChannelKind, load_rota
from tests.unit.builders import ROOT, ROTA_FILE

POLICY = load_policy(ROOT / "deploy" / "config" / "alerting.yaml")
ROTA = load_rota(ROTA_FILE, environ={})
DAYTIME = datetime(2026, 6, 15, 11, 0, tzinfo=UTC)  # Monday 12:00 BST: advisor-day on duty
ACK = {"ack_link": "https://alerts.example/ack/TOKEN", "ack_code": "ABCD-2345-EFGH"}
SMS, EMAIL = ChannelKind.SMS, ChannelKind.EMAIL


def _grouped(count: int) -> dict[str, str]:
    return {"count": str(count), "operation": "Op Halyard", "district": "Norwich",
            "case_references": "MS-2026-AAAAAA", **ACK}  # fmt: skip


@pytest.mark.parametrize(
    ("count", "title", "sms"),
    [
        (1, "1 more referral from Op Halyard",
         "1 more referral from Op Halyard, Norwich. Ack ABCD-2345-EFGH Case by email and at "
         "https://alerts.example/ack/TOKEN"),
        (3, "3 more referrals from Op Halyard",
         "3 more referrals from Op Halyard, Norwich. Ack ABCD-2345-EFGH Cases by email and at "
         "https://alerts.example/ack/TOKEN"),
        (0, "0 more referrals from Op Halyard", None),
        (11, "11 more referrals from Op Halyard", None),
    ],
)  # fmt: skip
def test_a_grouped_follow_up_agrees_with_its_count(count: int, title: str, sms: str | None) -> None:
    templates = POLICY.templates["grouped"]
    assert render_message(templates, _grouped(count), SMS).title == title
    if sms is not None:
        assert render_message(templates, _grouped(count), SMS).body == sms
    email = render_message(templates, _grouped(count), EMAIL).body
    assert email.splitlines()[0] == f"{title} (Norwich):"


@pytest.mark.parametrize(
    "template",
    [
        "{count:referral|referrals}",
        "{attempt:try|tries} and {attempts:notice|notices}",
        "{count:child or adult|children or adults}",
    ],
)
def test_a_plural_choice_on_a_number_field_is_accepted(template: str) -> None:
    Templates(title=template, body=template, short=template)


@pytest.mark.parametrize(
    ("template", "why"),
    [
        ("{district:one|many}", "not a number field"),
        ("{count:>5}", "any other format spec"),
        ("{count:a|b|c}", "three forms"),
        ("{count:|referrals}", "an empty form"),
        ("{count!r}", "a conversion"),
        ("{count:{case_reference}|x}", "a field inside the spec"),
        ("{name:a|b}", "a field outside the allow-list"),
    ],
)
def test_the_loader_refuses_anything_but_a_plain_field_or_a_plural_choice(
    template: str, why: str
) -> None:
    with pytest.raises(ValidationError):
        Templates(title=template, body="{count}", short="{count}")


def test_the_renotify_prefix_is_allow_listed_too() -> None:
    document = POLICY.model_dump(mode="json")
    with pytest.raises(ValidationError, match="outside the allow-list"):
        AlertingPolicy.model_validate(document | {"renotify_prefix": "Again for {name}: "})


@given(st.text(min_size=1, max_size=40).filter(lambda s: "{" not in s and "}" not in s))
@settings(max_examples=50, deadline=None, database=None)
def test_a_plural_choice_never_shows_the_value(noise: str) -> None:
    """The word comes from the template, never from the field: nothing can be smuggled in."""
    assert render("{count:one|many}", {"count": noise}) in {"one", "many"}


REFERRAL = {"case_reference": "MS-2026-7KQ2M4", "urgency": "immediate", "URGENCY": "IMMEDIATE",
            "district": "Norwich", "time": "08:30 28 Nov 2026", "operation": "Op Halyard", **ACK}  # fmt: skip


def test_a_reminder_says_which_notice_it_is_in_the_subject_and_the_sms() -> None:
    templates = POLICY.templates["referral"]
    prefix = renotify_prefix(POLICY, Notice(2, 3))
    assert prefix == "Reminder 2 of 3: "
    email = render_message(templates, REFERRAL, EMAIL, prefix)
    sms = render_message(templates, REFERRAL, SMS, prefix)
    assert email.title == "Reminder 2 of 3: [IMMEDIATE] Modern slavery referral MS-2026-7KQ2M4"
    assert sms.body.startswith("Reminder 2 of 3: IMMEDIATE modern slavery referral MS-2026-7KQ2M4")
    first = render_message(templates, REFERRAL, EMAIL, renotify_prefix(POLICY, Notice(1, 3)))
    assert first.title == "[IMMEDIATE] Modern slavery referral MS-2026-7KQ2M4"
    assert email.body == first.body  # the e-mail body is the first notice's
    assert email.title != first.title  # so a reminder does not thread away under the first


def test_the_prefix_survives_the_sms_cut() -> None:
    long = REFERRAL | {"ack_link": "https://alerts.example/ack/" + "x" * 400}
    sms = render_message(POLICY.templates["referral"], long, SMS, "Reminder 4 of 5: ")
    assert sms.body.startswith("Reminder 4 of 5: IMMEDIATE")
    assert len(sms.body) == SMS_LIMIT


def _notices(person: str) -> list[Notice]:
    """The notices `person` gets from every step of the shipped immediate escalation that reaches
    them, each counted as the dispatcher counts it (earlier steps that reached them, later ones)."""
    schedule = [
        tuple(target.value for target in targets)
        for _, targets in POLICY.escalation[Urgency.IMMEDIATE].schedule()
    ]
    reached = [person in schedule_step for schedule_step in _resolved(schedule)]
    return [
        notice_for(ROTA, person, sum(reached[:step]), schedule[step + 1 :], DAYTIME)
        for step, yes in enumerate(reached)
        if yes
    ]


def _resolved(schedule: list[tuple[str, ...]]) -> list[set[str]]:
    from services.notifier.domain import resolve_targets

    return [{p.id for p in resolve_targets(ROTA, targets, DAYTIME)} for targets in schedule]


def test_notices_are_numbered_per_person_across_the_escalation() -> None:
    """Shipped immediate policy: on duty at 0 and 5 min, backup at 10, head at 15, then four
    repeats to the head of service and the backup. At noon advisor-day is on duty and
    advisor-night is the backup."""
    assert _notices("advisor-day") == [Notice(1, 2), Notice(2, 2)]
    assert _notices("advisor-night") == [Notice(n, 5) for n in range(1, 6)]
    assert _notices("head-of-service") == [Notice(n, 5) for n in range(1, 6)]
    assert [renotify_prefix(POLICY, n) for n in _notices("advisor-day")] == [
        "",
        "Reminder 2 of 2: ",
    ]


def test_a_single_step_alert_is_one_notice() -> None:
    assert notice_for(ROTA, "advisor-day", 0, [], DAYTIME) == Notice(1, 1)
    assert renotify_prefix(POLICY, Notice(1, 1)) == ""


T0 = datetime(2026, 11, 28, 8, 30, tzinfo=UTC)
CONTACTS = [  # (reference, police contact time), in the order expected in the follow-up
    ("MS-2026-ZZZZZ1", T0),
    ("MS-2026-AAAAA9", T0 + timedelta(minutes=4)),
    ("MS-2026-BBBBB2", T0 + timedelta(minutes=4)),  # same minute: by reference
    ("MS-2026-AAAAA1", T0 + timedelta(minutes=9)),
    ("MS-2026-CCCCC3", None),  # batched before times were kept: last
]
EXPECTED = "MS-2026-ZZZZZ1, MS-2026-AAAAA9, MS-2026-BBBBB2, MS-2026-AAAAA1, MS-2026-CCCCC3"


@given(st.randoms(use_true_random=False))
@settings(max_examples=60, deadline=None, database=None)
def test_a_grouped_follow_up_lists_cases_by_contact_time_then_reference(
    rng: random.Random,
) -> None:
    arrived = CONTACTS.copy()
    rng.shuffle(arrived)  # whatever order Kafka's partitions delivered them in
    fields = grouped_fields(arrived, "Op Halyard", "great_yarmouth", "priority")
    assert fields["case_references"] == EXPECTED
    assert fields["count"] == "5"
    assert (fields["district"], fields["URGENCY"]) == ("Great Yarmouth", "PRIORITY")
