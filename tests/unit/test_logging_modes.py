"""Logs a person can read in dev on a terminal (coloured, no health-check noise), JSON elsewhere."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from shared.logging import configure_logging, get_logger, route_library_loggers
from shared.settings import ServiceSettings
from tests.support.signing import event_settings

KEYS = event_settings("intake")


@pytest.fixture(autouse=True)
def _json_again_afterwards() -> Iterator[None]:
    yield
    configure_logging("tests")


def emit() -> None:
    route_library_loggers()
    access = logging.getLogger("uvicorn.access")
    # An in-process uvicorn (the test gateways) may have left it at WARNING: as a service runs it.
    access.setLevel(logging.INFO)
    access.disabled = False
    line = '%s - "%s %s HTTP/%s" %d'
    access.info(line, "127.0.0.1:5", "GET", "/readyz", "1.1", 200)
    access.info(line, "127.0.0.1:5", "GET", "/healthz", "1.1", 200)
    access.info(line, "127.0.0.1:5", "GET", "/readyz", "1.1", 503)
    access.info(line, "127.0.0.1:5", "POST", "/v1/contacts", "1.1", 202)
    get_logger("svc").info("contact_received", case_reference="MS-2026-7KQ2M4", name="Canary W")


def test_console_lines_are_for_people_and_skip_passing_health_checks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("intake", console=True)
    emit()
    out = capsys.readouterr().out
    assert "/healthz" not in out
    assert '"GET /readyz HTTP/1.1" 503' in out  # a failing probe is news
    assert '"POST /v1/contacts HTTP/1.1" 202' in out
    assert "contact_received" in out
    assert "\x1b[" in out  # coloured
    assert "Canary" not in out  # the same redaction as JSON
    assert not out.lstrip().startswith("{")


def test_json_everywhere_else_keeps_every_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("intake")
    emit()
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 5
    assert lines[-1]["event"] == "contact_received"
    assert lines[-1]["name"] == "[redacted]"


@pytest.mark.parametrize(
    ("environment", "log_format", "console"),
    [("dev", "console", True), ("dev", "json", False), ("test", "auto", False)],
)
def test_console_only_in_dev(environment: str, log_format: str, console: bool) -> None:
    settings = ServiceSettings(SAFEGUARDING_ENV=environment, LOG_FORMAT=log_format, **KEYS)
    assert settings.console_logs() is console


def test_console_is_refused_outside_dev() -> None:
    with pytest.raises(ValueError, match="LOG_FORMAT=console is for dev"):
        ServiceSettings(SAFEGUARDING_ENV="test", LOG_FORMAT="console", **KEYS)
