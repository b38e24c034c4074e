"""The rota: environment expansion when loading, and who is on duty (London wall-clock time)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from services.notifier.rota import Rota, RotaError, load_rota, on_duty
from shared.clock import LONDON
from tests.unit.builders import ROTA_FILE

SINK_URL = "mailto://127.0.0.1:{port}?from=alerts@safeguarding.local&to={who}@safeguarding.local&mode=insecure"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rota.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def rota() -> Rota:
    return load_rota(ROTA_FILE, environ={})


@pytest.mark.parametrize(
    ("environ", "port"),
    [({}, "1025"), ({"MAIL_SINK_PORT": "2525"}, "2525")],
    ids=["default", "from_environment"],
)
def test_mail_sink_port_expands_to_environment_or_default(
    environ: dict[str, str], port: str
) -> None:
    loaded = load_rota(ROTA_FILE, environ=environ)
    assert loaded.person("advisor-day").channels == (SINK_URL.format(port=port, who="advisor-day"),)
    assert loaded.person("coordinator").channels == (SINK_URL.format(port=port, who="coordinator"),)


def test_whole_channel_url_can_come_from_the_environment() -> None:
    environ = {"ADVISOR_NIGHT_ALERT_URL": "tgram://bot-token/12345", "MAIL_SINK_PORT": "2525"}
    loaded = load_rota(ROTA_FILE, environ=environ)
    assert loaded.person("advisor-night").channels == ("tgram://bot-token/12345",)
    assert loaded.person("advisor-day").channels == (SINK_URL.format(port=2525, who="advisor-day"),)


def test_missing_variable_without_default_names_it_and_nothing_else(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "people:\n"
        "  - {id: a, role: advisor, channels: ['tgram://${GOOD_TOKEN}/1', 'tgram://${MISSING_TOKEN}/2']}\n"
        "last_resort: a\n",
    )
    environ = {"GOOD_TOKEN": "canary-good-token", "OTHER_SECRET": "canary-other-secret"}
    with pytest.raises(RotaError) as caught:
        load_rota(path, environ=environ)
    message = str(caught.value)
    assert "MISSING_TOKEN" in message
    assert "canary" not in message
    assert "GOOD_TOKEN" not in message


def test_unknown_person_in_a_shift_is_refused(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "people:\n"
        "  - {id: a, role: advisor, channels: ['json://localhost']}\n"
        "weekly:\n"
        "  - {days: [mon], start: '08:00', end: '20:00', person: ghost}\n"
        "last_resort: a\n",
    )
    with pytest.raises(RotaError, match="rota names unknown people: ghost"):
        load_rota(path, environ={})


def test_invalid_rota_error_does_not_echo_expanded_credentials(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "people:\n  - {id: a, channels: ['tgram://${BOT_TOKEN}/123']}\nlast_resort: a\n",
    )
    with pytest.raises(ValueError, match="role") as caught:
        load_rota(path, environ={"BOT_TOKEN": "canary-bot-token"})
    assert "canary-bot-token" not in str(caught.value)


def test_default_is_not_needed_when_the_variable_is_set(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "people:\n  - {id: a, role: advisor, channels: ['${A_URL:-json://x:${B_PORT}/}']}\n"
        "last_resort: a\n",
    )
    loaded = load_rota(path, environ={"A_URL": "json://set.example/"})
    assert loaded.person("a").channels == ("json://set.example/",)


def _london(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LONDON)


@pytest.mark.parametrize(
    ("moment", "person"),
    [
        pytest.param(_london("2026-01-14T19:59"), "advisor-day", id="winter_19_59"),
        pytest.param(_london("2026-01-14T20:00"), "advisor-night", id="winter_20_00"),
        pytest.param(_london("2026-01-15T07:59"), "advisor-night", id="winter_07_59"),
        pytest.param(_london("2026-01-15T08:00"), "advisor-day", id="winter_08_00"),
        pytest.param(_london("2026-07-15T19:59"), "advisor-day", id="summer_19_59"),
        pytest.param(_london("2026-07-15T20:00"), "advisor-night", id="summer_20_00"),
        pytest.param(_london("2026-07-16T00:00"), "advisor-night", id="summer_midnight"),
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
        pytest.param("2026-03-29T06:59:00+00:00", "advisor-night", id="spring_07_59_bst"),
        pytest.param("2026-03-29T07:00:00+00:00", "advisor-day", id="spring_08_00_bst"),
        pytest.param("2026-03-29T07:30:00+00:00", "advisor-day", id="spring_08_30_bst"),
        pytest.param("2026-03-29T18:59:00+00:00", "advisor-day", id="spring_19_59_bst"),
        pytest.param("2026-03-29T19:00:00+00:00", "advisor-night", id="spring_20_00_bst"),
        pytest.param("2026-10-24T07:30:00+00:00", "advisor-day", id="autumn_eve_08_30_bst"),
        pytest.param("2026-10-25T07:30:00+00:00", "advisor-night", id="autumn_07_30_gmt"),
        pytest.param("2026-10-25T07:59:00+00:00", "advisor-night", id="autumn_07_59_gmt"),
        pytest.param("2026-10-25T08:00:00+00:00", "advisor-day", id="autumn_08_00_gmt"),
        pytest.param("2026-10-25T19:59:00+00:00", "advisor-day", id="autumn_19_59_gmt"),
        pytest.param("2026-10-25T20:00:00+00:00", "advisor-night", id="autumn_20_00_gmt"),
    ],
)
def test_clock_changes_follow_london_wall_clock(rota: Rota, utc: str, person: str) -> None:
    assert on_duty(rota, datetime.fromisoformat(utc)).id == person


PARTIAL_ROTA = """
people:
  - {id: weekday, role: advisor, channels: ['json://localhost/a']}
  - {id: friday-night, role: advisor, channels: ['json://localhost/b']}
  - {id: boss, role: head_of_service, channels: ['json://localhost/c']}
weekly:
  - {days: [mon, tue, wed, thu, fri], start: '09:00', end: '17:00', person: weekday}
  - {days: [fri], start: '22:00', end: '06:00', person: friday-night}
last_resort: boss
"""


@pytest.mark.parametrize(
    ("local", "person"),
    [
        pytest.param("2026-05-13T09:00", "weekday", id="wed_09_00"),
        pytest.param("2026-05-13T17:00", "boss", id="wed_17_00_uncovered"),
        pytest.param("2026-05-13T08:59", "boss", id="wed_08_59_uncovered"),
        pytest.param("2026-05-16T10:00", "boss", id="saturday_uncovered"),
        pytest.param("2026-05-15T22:00", "friday-night", id="fri_22_00"),
        pytest.param("2026-05-16T05:59", "friday-night", id="sat_05_59_from_friday"),
        pytest.param("2026-05-16T06:00", "boss", id="sat_06_00_uncovered"),
        pytest.param("2026-05-16T23:00", "boss", id="sat_23_00_not_a_friday"),
        pytest.param("2026-05-15T03:00", "boss", id="fri_03_00_thursday_had_no_night"),
    ],
)
def test_uncovered_times_go_to_the_last_resort(tmp_path: Path, local: str, person: str) -> None:
    loaded = load_rota(_write(tmp_path, PARTIAL_ROTA), environ={})
    assert on_duty(loaded, _london(local)).id == person
