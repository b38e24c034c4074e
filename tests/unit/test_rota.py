"""The rota (shared/rota.py): loading with environment and secret-file expansion, and
who is on duty at a moment, decided by London wall-clock time, bank holidays and overrides."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from shared.clock import LONDON
from shared.rota import (
    ChannelKind,
    Person,
    Rota,
    RotaError,
    backups,
    day_kind,
    find_gaps,
    load_rota,
    on_duty,
    scheduled,
)
from tests.unit.builders import ROTA_FILE

SINK_URL = "mailto://127.0.0.1:{port}?from=alerts@safeguarding.local&to={who}@safeguarding.local&mode=insecure"
SHIPPED_PEOPLE = ("advisor-day", "advisor-night", "head-of-service", "coordinator",
                  "childrens-safeguarding")  # fmt: skip
EVERY_DAY = "[mon, tue, wed, thu, fri, sat, sun, bank_holiday]"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rota.yaml"
    path.write_text(text)
    return path


def _london(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LONDON)


def _ids(people: tuple[Person, ...]) -> list[str]:
    return [person.id for person in people]


@pytest.fixture
def rota() -> Rota:
    return load_rota(ROTA_FILE, environ={})


# --- Loading: channels, environment, secret files -------------------------------------------


@pytest.mark.parametrize(
    ("environ", "port"),
    [({}, "1025"), ({"MAIL_SINK_PORT": "2525"}, "2525")],
    ids=["default", "from_environment"],
)
def test_shipped_rota_sends_email_to_the_mail_sink_port(environ: dict[str, str], port: str) -> None:
    loaded = load_rota(ROTA_FILE, environ=environ)
    assert tuple(person.id for person in loaded.people) == SHIPPED_PEOPLE
    for person_id in SHIPPED_PEOPLE:
        assert loaded.person(person_id).channels == {
            ChannelKind.EMAIL: SINK_URL.format(port=port, who=person_id)
        }
    assert loaded.timezone == "Europe/London"
    assert loaded.last_resort == "head-of-service"
    assert loaded.overrides == ()


def test_shipped_rota_ignores_the_process_environment_when_given_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAIL_SINK_PORT", "9999")
    monkeypatch.setenv("ADVISOR_DAY_SMS_URL", "json://from-process-env")
    loaded = load_rota(ROTA_FILE, environ={})
    assert loaded.person("advisor-day").channels == {
        ChannelKind.EMAIL: SINK_URL.format(port="1025", who="advisor-day")
    }


def test_unset_sms_url_drops_the_sms_channel(rota: Rota) -> None:
    assert ChannelKind.SMS not in rota.person("advisor-day").channels
    assert rota.person("advisor-day").channel_order() == (ChannelKind.EMAIL,)


def test_sms_url_set_adds_the_sms_channel_first() -> None:
    loaded = load_rota(ROTA_FILE, environ={"ADVISOR_DAY_SMS_URL": "twilio://sid:tok@+441/+442"})
    day = loaded.person("advisor-day")
    assert day.channels == {
        ChannelKind.SMS: "twilio://sid:tok@+441/+442",
        ChannelKind.EMAIL: SINK_URL.format(port="1025", who="advisor-day"),
    }
    assert day.channel_order() == (ChannelKind.SMS, ChannelKind.EMAIL)
    assert loaded.person("advisor-night").channel_order() == (ChannelKind.EMAIL,)


def test_channels_keep_the_yaml_order_sms_voice_email() -> None:
    environ = {
        "ADVISOR_NIGHT_VOICE_URL": "json://voice.example/",
        "ADVISOR_NIGHT_SMS_URL": "json://sms.example/",
        "MAIL_SINK_PORT": "2525",
    }
    night = load_rota(ROTA_FILE, environ=environ).person("advisor-night")
    assert night.channel_order() == (ChannelKind.SMS, ChannelKind.VOICE, ChannelKind.EMAIL)
    assert list(night.channels.values()) == [
        "json://sms.example/",
        "json://voice.example/",
        SINK_URL.format(port="2525", who="advisor-night"),
    ]


def test_variable_set_to_empty_drops_the_channel() -> None:
    loaded = load_rota(ROTA_FILE, environ={"ADVISOR_DAY_SMS_URL": ""})
    assert loaded.person("advisor-day").channel_order() == (ChannelKind.EMAIL,)


def test_whole_channel_url_can_come_from_the_environment() -> None:
    environ = {"ADVISOR_NIGHT_ALERT_URL": "tgram://bot-token/12345", "MAIL_SINK_PORT": "2525"}
    loaded = load_rota(ROTA_FILE, environ=environ)
    assert loaded.person("advisor-night").channels == {ChannelKind.EMAIL: "tgram://bot-token/12345"}
    assert loaded.person("advisor-day").channels == {
        ChannelKind.EMAIL: SINK_URL.format(port="2525", who="advisor-day")
    }


def test_every_channel_expanding_to_nothing_is_refused(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "people:\n  - {id: a, role: advisor, channels: {sms: '${A_SMS:-}'}}\nlast_resort: a\n",
    )
    with pytest.raises(RotaError, match=r"people\.0\.channels"):
        load_rota(path, environ={})


def test_missing_variable_without_default_names_it_and_nothing_else(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "people:\n"
        "  - {id: a, role: advisor, channels: {sms: 'tgram://${GOOD_TOKEN}/1', "
        "email: 'tgram://${MISSING_TOKEN}/2'}}\n"
        "last_resort: a\n",
    )
    environ = {"GOOD_TOKEN": "canary-good-token", "OTHER_SECRET": "canary-other-secret"}
    with pytest.raises(RotaError) as caught:
        load_rota(path, environ=environ)
    message = str(caught.value)
    assert message == "environment variable MISSING_TOKEN is referenced by the rota but not set"


def test_default_is_not_needed_when_the_variable_is_set(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "people:\n  - {id: a, role: advisor, channels: {email: '${A_URL:-json://x:${B_PORT}/}'}}\n"
        "last_resort: a\n",
    )
    loaded = load_rota(path, environ={"A_URL": "json://set.example/"})
    assert loaded.person("a").channels == {ChannelKind.EMAIL: "json://set.example/"}


def test_nested_default_is_expanded_when_used(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "people:\n  - {id: a, role: advisor, channels: {email: '${A_URL:-json://x:${B_PORT}/}'}}\n"
        "last_resort: a\n",
    )
    loaded = load_rota(path, environ={"B_PORT": "8080"})
    assert loaded.person("a").channels == {ChannelKind.EMAIL: "json://x:8080/"}


def test_expanded_values_are_not_expanded_again(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "people:\n  - {id: a, role: advisor, channels: {email: 'json://${A_HOST}/'}}\n"
        "last_resort: a\n",
    )
    loaded = load_rota(path, environ={"A_HOST": "${file:/etc/passwd}", "B": "no"})
    assert loaded.person("a").channels == {ChannelKind.EMAIL: "json://${file:/etc/passwd}/"}


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("json://${lower_case}/", "a ${...} reference in the rota has an invalid variable name"),
        ("json://${}/", "a ${...} reference in the rota has an invalid variable name"),
        ("json://${A_URL/", "a ${ in the rota is never closed"),
    ],
    ids=["lower_case_name", "empty_name", "unclosed"],
)
def test_malformed_references_are_refused(tmp_path: Path, url: str, message: str) -> None:
    path = _write(
        tmp_path, f"people:\n  - {{id: a, role: advisor, channels: {{email: '{url}'}}}}\n"
        "last_resort: a\n",
    )  # fmt: skip
    with pytest.raises(RotaError) as caught:
        load_rota(path, environ={"A_URL": "canary-a-url", "lower_case": "canary-lower"})
    assert str(caught.value) == message


def test_secret_file_is_read_and_stripped(tmp_path: Path) -> None:
    secret = tmp_path / "bot_token"
    secret.write_text("canary-file-token\n")
    path = _write(
        tmp_path,
        f"people:\n  - {{id: a, role: advisor, channels: {{chat: 'tgram://${{file:{secret}}}/42'}}}}\n"
        "last_resort: a\n",
    )
    loaded = load_rota(path, environ={})
    assert loaded.person("a").channels == {ChannelKind.CHAT: "tgram://canary-file-token/42"}


def test_missing_secret_file_is_refused_without_any_secret(tmp_path: Path) -> None:
    present = tmp_path / "present_token"
    present.write_text("canary-present-token")
    missing = tmp_path / "missing_token"
    path = _write(
        tmp_path,
        "people:\n"
        f"  - {{id: a, role: advisor, channels: {{email: 'json://${{file:{present}}}/', "
        f"sms: 'json://${{file:{missing}}}/'}}}}\n"
        "last_resort: a\n",
    )
    with pytest.raises(RotaError) as caught:
        load_rota(path, environ={"SOME_TOKEN": "canary-env-token"})
    message = str(caught.value)
    assert message == f"secret file {missing} referenced by the rota cannot be read"
    assert "canary" not in message


CREDENTIALED_CHANNELS = (
    "{email: 'json://user:${BOT_TOKEN}@host/', chat: 'tgram://${file:SECRET_FILE}/1'}"
)


@pytest.mark.parametrize(
    ("person", "extra", "problem"),
    [
        ("{id: a, channels: CHANNELS}", "", "people.0.role: Field required"),
        ("{id: a, role: wizard, channels: CHANNELS}", "", "people.0.role: Input should be"),
        ("{id: a, role: advisor, channels: CHANNELS, pager: 1}", "", "people.0.pager"),
        (
            "{id: a, role: advisor, channels: CHANNELS}",
            "weekly:\n  - {days: [funday], start: '08:00', end: '20:00', person: a}\n",
            "weekly.0.days.0",
        ),
        (
            "{id: a, role: advisor, channels: CHANNELS}",
            "weekly:\n  - {days: [mon], start: '08:00', end: '20:00', person: ghost}\n",
            "rota names unknown people: ghost",
        ),
    ],
    ids=["no_role", "bad_role", "extra_key", "bad_day", "unknown_person"],
)
def test_invalid_rota_error_does_not_echo_expanded_credentials(
    tmp_path: Path, person: str, extra: str, problem: str
) -> None:
    secret = tmp_path / "chat_token"
    secret.write_text("canary-file-secret")
    channels = CREDENTIALED_CHANNELS.replace("SECRET_FILE", str(secret))
    path = _write(
        tmp_path,
        f"people:\n  - {person.replace('CHANNELS', channels)}\n{extra}last_resort: a\n",
    )
    with pytest.raises(RotaError) as caught:
        load_rota(path, environ={"BOT_TOKEN": "canary-bot-token"})
    message = str(caught.value)
    assert message.startswith("rota.yaml: ")
    assert problem in message
    assert "canary" not in message
    assert "json://" not in message
    assert "tgram://" not in message


@pytest.mark.parametrize(
    "text",
    [
        "people: [\n  - {id: a, role: advisor, channels: {email: 'json://canary-yaml/'}\n",
        "- canary-list-item\n- other\n",
    ],
    ids=["syntax_error", "not_a_mapping"],
)
def test_unparseable_rota_is_a_rota_error(tmp_path: Path, text: str) -> None:
    with pytest.raises(RotaError) as caught:
        load_rota(_write(tmp_path, text), environ={})
    assert "canary" not in str(caught.value)


def test_unknown_person_in_an_override_is_refused(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "people:\n"
        "  - {id: a, role: advisor, channels: {email: 'json://localhost'}}\n"
        "overrides:\n"
        "  - {kind: cover, person: ghost, start: '2026-06-01T08:00', end: '2026-06-01T20:00'}\n"
        "last_resort: nobody\n",
    )
    with pytest.raises(RotaError, match="rota names unknown people: ghost, nobody"):
        load_rota(path, environ={})


# --- Who is on duty: shifts and clock changes ---------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "person"),
    [
        pytest.param(_london("2026-01-14T19:59"), "advisor-day", id="winter_19_59"),
        pytest.param(_london("2026-01-14T20:00"), "advisor-night", id="winter_20_00"),
        pytest.param(_london("2026-01-15T00:00"), "advisor-night", id="winter_midnight"),
        pytest.param(_london("2026-01-15T07:59"), "advisor-night", id="winter_07_59"),
        pytest.param(_london("2026-01-15T08:00"), "advisor-day", id="winter_08_00"),
        pytest.param(_london("2026-07-15T19:59"), "advisor-day", id="summer_19_59"),
        pytest.param(_london("2026-07-15T20:00"), "advisor-night", id="summer_20_00"),
        pytest.param(_london("2026-07-16T00:00"), "advisor-night", id="summer_midnight"),
        pytest.param(_london("2026-07-16T07:59"), "advisor-night", id="summer_07_59"),
        pytest.param(_london("2026-07-16T08:00"), "advisor-day", id="summer_08_00"),
    ],
)
def test_overnight_shift_boundaries(rota: Rota, moment: datetime, person: str) -> None:
    assert on_duty(rota, moment).id == person


@pytest.mark.parametrize(
    ("utc", "person"),
    [
        pytest.param("2026-03-28T07:30:00+00:00", "advisor-night", id="spring_eve_07_30_gmt"),
        pytest.param("2026-03-29T00:59:00+00:00", "advisor-night", id="spring_00_59_gmt"),
        pytest.param("2026-03-29T01:00:00+00:00", "advisor-night", id="spring_02_00_bst"),
        pytest.param("2026-03-29T06:59:00+00:00", "advisor-night", id="spring_07_59_bst"),
        pytest.param("2026-03-29T07:00:00+00:00", "advisor-day", id="spring_08_00_bst"),
        pytest.param("2026-03-29T07:30:00+00:00", "advisor-day", id="spring_08_30_bst"),
        pytest.param("2026-03-29T18:59:00+00:00", "advisor-day", id="spring_19_59_bst"),
        pytest.param("2026-03-29T19:00:00+00:00", "advisor-night", id="spring_20_00_bst"),
        pytest.param("2026-10-24T07:30:00+00:00", "advisor-day", id="autumn_eve_08_30_bst"),
        pytest.param("2026-10-25T00:30:00+00:00", "advisor-night", id="autumn_01_30_bst"),
        pytest.param("2026-10-25T01:30:00+00:00", "advisor-night", id="autumn_01_30_gmt"),
        pytest.param("2026-10-25T07:30:00+00:00", "advisor-night", id="autumn_07_30_gmt"),
        pytest.param("2026-10-25T07:59:00+00:00", "advisor-night", id="autumn_07_59_gmt"),
        pytest.param("2026-10-25T08:00:00+00:00", "advisor-day", id="autumn_08_00_gmt"),
        pytest.param("2026-10-25T19:59:00+00:00", "advisor-day", id="autumn_19_59_gmt"),
        pytest.param("2026-10-25T20:00:00+00:00", "advisor-night", id="autumn_20_00_gmt"),
    ],
)
def test_clock_changes_follow_london_wall_clock(rota: Rota, utc: str, person: str) -> None:
    assert on_duty(rota, datetime.fromisoformat(utc)).id == person


def test_shipped_rota_has_no_last_resort_moments(rota: Rota) -> None:
    assert scheduled(rota, datetime(2026, 6, 15, 11, tzinfo=UTC)) == rota.person("advisor-day")
    assert scheduled(rota, datetime(2026, 6, 15, 22, tzinfo=UTC)) == rota.person("advisor-night")


PARTIAL_ROTA = """
people:
  - {id: weekday, role: advisor, channels: {email: 'json://localhost/a'}}
  - {id: friday-night, role: advisor, channels: {email: 'json://localhost/b'}}
  - {id: boss, role: head_of_service, channels: {email: 'json://localhost/c'}}
weekly:
  - {days: [mon, tue, wed, thu, fri], start: '09:00', end: '17:00', person: weekday}
  - {days: [fri], start: '22:00', end: '06:00', person: friday-night}
last_resort: boss
"""


@pytest.mark.parametrize(
    ("local", "person"),
    [
        pytest.param("2026-05-13T09:00", "weekday", id="wed_09_00"),
        pytest.param("2026-05-13T16:59", "weekday", id="wed_16_59"),
        pytest.param("2026-05-13T17:00", "boss", id="wed_17_00_uncovered"),
        pytest.param("2026-05-13T08:59", "boss", id="wed_08_59_uncovered"),
        pytest.param("2026-05-16T10:00", "boss", id="saturday_uncovered"),
        pytest.param("2026-05-15T22:00", "friday-night", id="fri_22_00"),
        pytest.param("2026-05-16T05:59", "friday-night", id="sat_05_59_from_friday"),
        pytest.param("2026-05-16T06:00", "boss", id="sat_06_00_uncovered"),
        pytest.param("2026-05-16T23:00", "boss", id="sat_23_00_not_a_friday"),
        pytest.param("2026-05-15T03:00", "boss", id="fri_03_00_thursday_had_no_night"),
        pytest.param("2026-08-31T10:00", "boss", id="bank_holiday_monday_not_listed"),
        pytest.param("2026-09-01T10:00", "weekday", id="tuesday_after"),
    ],
)
def test_uncovered_times_go_to_the_last_resort(tmp_path: Path, local: str, person: str) -> None:
    loaded = load_rota(_write(tmp_path, PARTIAL_ROTA), environ={})
    assert on_duty(loaded, _london(local)).id == person
    assert (scheduled(loaded, _london(local)) is None) is (person == "boss")


# --- Bank holidays ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "kind"),
    [
        (date(2026, 8, 30), "sun"),
        (date(2026, 8, 31), "bank_holiday"),
        (date(2026, 9, 1), "tue"),
        (date(2026, 12, 24), "thu"),
        (date(2026, 12, 25), "bank_holiday"),
        (date(2026, 12, 28), "bank_holiday"),
        (date(2026, 4, 3), "bank_holiday"),
        (date(2026, 4, 6), "bank_holiday"),
    ],
)
def test_day_kind(day: date, kind: str) -> None:
    assert day_kind(day) == kind


HOLIDAY_ROTA = """
people:
  - {id: day, role: advisor, channels: {email: 'json://localhost/day'}}
  - {id: night, role: advisor, channels: {email: 'json://localhost/night'}}
  - {id: holiday-day, role: advisor, channels: {email: 'json://localhost/holiday-day'}}
  - {id: holiday-night, role: advisor, channels: {email: 'json://localhost/holiday-night'}}
  - {id: boss, role: head_of_service, channels: {email: 'json://localhost/boss'}}
weekly:
  - {days: [mon, tue, wed, thu, fri, sat, sun], start: '08:00', end: '20:00', person: day}
  - {days: [mon, tue, wed, thu, fri, sat, sun], start: '20:00', end: '08:00', person: night}
  - {days: [bank_holiday], start: '08:00', end: '20:00', person: holiday-day}
  - {days: [bank_holiday], start: '20:00', end: '08:00', person: holiday-night}
last_resort: boss
"""


@pytest.mark.parametrize(
    ("local", "person"),
    [
        pytest.param("2026-08-30T12:00", "day", id="sun_before"),
        pytest.param("2026-08-31T02:00", "night", id="bh_monday_02_00_sunday_night"),
        pytest.param("2026-08-31T07:59", "night", id="bh_monday_07_59_sunday_night"),
        pytest.param("2026-08-31T08:00", "holiday-day", id="bh_monday_08_00"),
        pytest.param("2026-08-31T19:59", "holiday-day", id="bh_monday_19_59"),
        pytest.param("2026-08-31T20:00", "holiday-night", id="bh_monday_20_00"),
        pytest.param("2026-09-01T03:00", "holiday-night", id="tue_03_00_bh_night"),
        pytest.param("2026-09-01T07:59", "holiday-night", id="tue_07_59_bh_night"),
        pytest.param("2026-09-01T08:00", "day", id="tue_08_00"),
        pytest.param("2026-09-01T20:00", "night", id="tue_20_00"),
        pytest.param("2026-12-24T21:00", "night", id="christmas_eve_night"),
        pytest.param("2026-12-25T07:00", "night", id="christmas_07_00_eve_night"),
        pytest.param("2026-12-25T12:00", "holiday-day", id="christmas_day"),
        pytest.param("2026-12-25T23:00", "holiday-night", id="christmas_night"),
        pytest.param("2026-04-03T12:00", "holiday-day", id="good_friday"),
        pytest.param("2026-04-07T03:00", "holiday-night", id="after_easter_monday"),
        pytest.param("2026-12-29T12:00", "day", id="tue_after_boxing_day_substitute"),
    ],
)
def test_bank_holidays_use_bank_holiday_shifts(tmp_path: Path, local: str, person: str) -> None:
    loaded = load_rota(_write(tmp_path, HOLIDAY_ROTA), environ={})
    assert on_duty(loaded, _london(local)).id == person


def test_shipped_rota_covers_bank_holidays(rota: Rota) -> None:
    assert on_duty(rota, _london("2026-12-25T12:00")).id == "advisor-day"
    assert on_duty(rota, _london("2026-08-31T23:00")).id == "advisor-night"


# --- Overrides ----------------------------------------------------------------------------------

OVERRIDE_ROTA = f"""
people:
  - {{id: day, role: advisor, channels: {{email: 'json://localhost/day'}}}}
  - {{id: night, role: advisor, channels: {{email: 'json://localhost/night'}}}}
  - {{id: spare, role: advisor, channels: {{email: 'json://localhost/spare'}}}}
  - {{id: boss, role: head_of_service, channels: {{email: 'json://localhost/boss'}}}}
weekly:
  - {{days: {EVERY_DAY}, start: '08:00', end: '20:00', person: day}}
  - {{days: {EVERY_DAY}, start: '20:00', end: '08:00', person: night}}
overrides:
  - {{kind: cover, person: spare, start: '2026-06-10T12:00', end: '2026-06-10T14:00'}}
  - {{kind: leave, person: day, start: '2026-06-11T00:00', end: '2026-06-13T00:00'}}
  - {{kind: cover, person: night, start: '2026-06-12T08:00', end: '2026-06-12T20:00'}}
last_resort: boss
"""


@pytest.fixture
def overridden(tmp_path: Path) -> Rota:
    return load_rota(_write(tmp_path, OVERRIDE_ROTA), environ={})


@pytest.mark.parametrize(
    ("local", "scheduled_id", "on_duty_id"),
    [
        pytest.param("2026-06-10T11:59", "day", "day", id="before_cover"),
        pytest.param("2026-06-10T12:00", "spare", "spare", id="cover_starts"),
        pytest.param("2026-06-10T13:59", "spare", "spare", id="cover_last_minute"),
        pytest.param("2026-06-10T14:00", "day", "day", id="cover_ended"),
        pytest.param("2026-06-11T08:00", None, "boss", id="leave_day_shift_is_a_gap"),
        pytest.param("2026-06-11T19:59", None, "boss", id="leave_day_shift_19_59"),
        pytest.param("2026-06-11T20:00", "night", "night", id="leave_night_unaffected"),
        pytest.param("2026-06-12T10:00", "night", "night", id="cover_during_leave"),
        pytest.param("2026-06-13T08:00", "day", "day", id="leave_over"),
    ],
)
def test_overrides(overridden: Rota, local: str, scheduled_id: str | None, on_duty_id: str) -> None:
    found = scheduled(overridden, _london(local))
    assert (found.id if found else None) == scheduled_id
    assert on_duty(overridden, _london(local)).id == on_duty_id


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        pytest.param("2026-06-10T10:00", ["night", "spare"], id="day_on_duty"),
        pytest.param("2026-06-10T12:30", ["day", "night"], id="spare_covering"),
        pytest.param("2026-06-11T10:00", ["night", "spare"], id="gap_day_on_leave"),
        pytest.param("2026-06-12T10:00", ["spare"], id="night_covering_day_on_leave"),
        pytest.param("2026-06-13T23:00", ["day", "spare"], id="night_on_duty"),
    ],
)
def test_backups_exclude_the_on_duty_and_people_on_leave(
    overridden: Rota, local: str, expected: list[str]
) -> None:
    assert _ids(backups(overridden, _london(local))) == expected


def test_shipped_rota_backups_are_the_other_advisor(rota: Rota) -> None:
    assert _ids(backups(rota, _london("2026-06-15T12:00"))) == ["advisor-night"]
    assert _ids(backups(rota, _london("2026-06-15T23:00"))) == ["advisor-day"]


# --- Gaps ---------------------------------------------------------------------------------------

HOLE_ROTA = """
people:
  - {id: day, role: advisor, channels: {email: 'json://localhost/day'}}
  - {id: night, role: advisor, channels: {email: 'json://localhost/night'}}
  - {id: boss, role: head_of_service, channels: {email: 'json://localhost/boss'}}
weekly:
  - {days: [mon, tue, wed, thu, fri, sat, sun, bank_holiday], start: '08:00', end: '20:00', person: day}
  - {days: [mon, tue, wed, thu, fri, sun, bank_holiday], start: '20:00', end: '08:00', person: night}
  - {days: [sat], start: '20:00', end: '02:00', person: night}
  - {days: [sun], start: '06:00', end: '08:00', person: night}
last_resort: boss
"""


@pytest.mark.parametrize(
    ("start", "sunday"),
    [
        pytest.param(datetime(2026, 6, 1, tzinfo=LONDON), "2026-06-07", id="june_london"),
        pytest.param(datetime(2026, 6, 1, tzinfo=UTC), "2026-06-07", id="june_utc"),
        pytest.param(datetime(2026, 3, 23, tzinfo=UTC), "2026-03-29", id="spring_forward"),
        pytest.param(datetime(2026, 10, 19, tzinfo=UTC), "2026-10-25", id="fall_back"),
    ],
)
def test_find_gaps_finds_exactly_the_hole(tmp_path: Path, start: datetime, sunday: str) -> None:
    loaded = load_rota(_write(tmp_path, HOLE_ROTA), environ={})
    gaps = find_gaps(loaded, start, start + timedelta(days=7))
    assert gaps == [(_london(f"{sunday}T02:00"), _london(f"{sunday}T06:00"))]
    ((opened, closed),) = gaps
    assert closed - opened == timedelta(hours=4)


def test_find_gaps_reports_a_gap_open_at_the_start_from_where_it_began(tmp_path: Path) -> None:
    """The start is a stable key (the notifier warns once per gap); the end is clipped to the window."""
    loaded = load_rota(_write(tmp_path, HOLE_ROTA), environ={})
    start, end = _london("2026-06-07T03:00"), _london("2026-06-07T04:00")
    assert find_gaps(loaded, start, end) == [(_london("2026-06-07T02:00"), end)]
    assert find_gaps(loaded, _london("2026-06-07T05:00"), _london("2026-06-07T09:00")) == [
        (_london("2026-06-07T02:00"), _london("2026-06-07T06:00"))
    ]
    assert find_gaps(loaded, _london("2026-06-07T06:00"), _london("2026-06-14T02:00")) == []


def test_find_gaps_bounds_do_not_depend_on_the_start_phase(tmp_path: Path) -> None:
    loaded = load_rota(_write(tmp_path, HOLE_ROTA), environ={})
    start = datetime(2026, 6, 1, 0, 7, 13, tzinfo=UTC)
    assert find_gaps(loaded, start, start + timedelta(days=7)) == [
        (_london("2026-06-07T02:00"), _london("2026-06-07T06:00"))
    ]


def test_find_gaps_sees_leave(overridden: Rota) -> None:
    assert find_gaps(overridden, _london("2026-06-10T00:00"), _london("2026-06-14T00:00")) == [
        (_london("2026-06-11T08:00"), _london("2026-06-11T20:00"))
    ]


@pytest.mark.parametrize(
    "start",
    [
        datetime(2026, 3, 20, tzinfo=UTC),
        datetime(2026, 10, 18, 13, 7, 29, tzinfo=UTC),
        datetime(2026, 12, 20, tzinfo=LONDON),
        datetime(2026, 8, 24, tzinfo=LONDON),
    ],
    ids=["spring_forward", "fall_back_unaligned", "christmas", "august_bank_holiday"],
)
def test_shipped_rota_has_no_gaps_over_fourteen_days(rota: Rota, start: datetime) -> None:
    assert find_gaps(rota, start, start + timedelta(days=14)) == []


# --- Times written in ways YAML or ISO 8601 make ambiguous ----------------------------------------


def test_unquoted_shift_times_are_refused_with_the_fix(tmp_path: Path) -> None:
    """YAML 1.1 reads an unquoted 20:00 as the sexagesimal integer 1200, not a clock time: the
    rota refuses it and says how to write it."""
    path = _write(
        tmp_path,
        "people:\n"
        "  - {id: a, role: advisor, channels: {email: 'json://localhost/a'}}\n"
        "  - {id: b, role: head_of_service, channels: {email: 'json://localhost/b'}}\n"
        f"weekly:\n  - {{days: {EVERY_DAY}, start: 20:00, end: 08:00, person: a}}\n"
        "last_resort: b\n",
    )
    with pytest.raises(RotaError) as caught:
        load_rota(path, environ={})
    assert "weekly.0.start" in str(caught.value)
    assert 'write shift times in quotes, e.g. "20:00"' in str(caught.value)


def test_quoted_shift_times_are_clock_times(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "people:\n"
        "  - {id: a, role: advisor, channels: {email: 'json://localhost/a'}}\n"
        "  - {id: b, role: head_of_service, channels: {email: 'json://localhost/b'}}\n"
        f"weekly:\n  - {{days: {EVERY_DAY}, start: '20:00', end: '08:00', person: a}}\n"
        "last_resort: b\n",
    )
    loaded = load_rota(path, environ={})
    assert (loaded.weekly[0].start, loaded.weekly[0].end) == (time(20, 0), time(8, 0))
    assert on_duty(loaded, _london("2026-06-10T19:59")).id == "b"
    assert on_duty(loaded, _london("2026-06-10T21:00")).id == "a"


@pytest.mark.parametrize(
    ("start", "end"),
    [
        # 08:00-20:00 UTC is 09:00-21:00 in London (BST): one hour later than the wall-clock
        # times written, so dropping the offset would be caught at 07:30 and 20:30 UTC.
        pytest.param("2026-06-10T08:00:00Z", "2026-06-10T20:00:00Z", id="utc_in_summer"),
        pytest.param("2026-06-10T13:00:00+05:00", "2026-06-11T01:00:00+05:00", id="plus_five"),
    ],
)
def test_override_with_an_offset_means_that_instant(tmp_path: Path, start: str, end: str) -> None:
    path = _write(
        tmp_path,
        "people:\n"
        "  - {id: a, role: advisor, channels: {email: 'json://localhost/a'}}\n"
        "  - {id: b, role: head_of_service, channels: {email: 'json://localhost/b'}}\n"
        "overrides:\n"
        f"  - {{kind: cover, person: a, start: '{start}', end: '{end}'}}\n"
        "last_resort: b\n",
    )
    loaded = load_rota(path, environ={})
    # Both spellings are the same instants: 08:00 to 20:00 UTC on 10 June 2026.
    expected = {
        (7, 30): "b", (7, 59): "b", (8, 0): "a", (12, 0): "a", (19, 59): "a", (20, 0): "b",
        (20, 30): "b",
    }  # fmt: skip
    found = {
        (hour, minute): on_duty(loaded, datetime(2026, 6, 10, hour, minute, tzinfo=UTC)).id
        for hour, minute in expected
    }
    assert found == expected
