"""The console's settings refuse what would be unsafe where they run: no environment or provider at
all anywhere; in staging and production plain http for staff, services or the provider, and the
dev log format; in dev and test a public address a browser elsewhere could reach."""

from __future__ import annotations

import os
from typing import Any

import pytest
from pydantic import ValidationError

from services.console.settings import ConsoleSettings
from shared.settings import Environment

ISSUER = "https://login.example.org/realms/safeguarding"
LOCAL_ISSUER = "http://127.0.0.1:8080/realms/safeguarding"
# A deployment fit to run: every address https, the provider https, JSON logs.
FIT: dict[str, Any] = {
    "public_url": "https://console.example.org",
    "intake_url": "https://intake.internal.example.org",
    "notifier_url": "https://notifier.internal.example.org",
    "casework_url": "https://casework.internal.example.org",
    "meetings_url": "https://meetings.internal.example.org",
}
SERVICE_URLS = ("intake_url", "notifier_url", "casework_url", "meetings_url")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("CONSOLE_", "SAFEGUARDING_", "STAFF_")) or name in (
            "LOG_LEVEL",
            "LOG_FORMAT",
        ):
            monkeypatch.delenv(name)


def deployed(monkeypatch: pytest.MonkeyPatch, environment: str = "production") -> None:
    monkeypatch.setenv("SAFEGUARDING_ENV", environment)
    monkeypatch.setenv("STAFF_OIDC_ISSUER", ISSUER)


def test_refuses_to_start_without_an_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STAFF_OIDC_ISSUER", LOCAL_ISSUER)
    with pytest.raises(ValidationError, match="SAFEGUARDING_ENV is required"):
        ConsoleSettings()


@pytest.mark.parametrize("environment", ["dev", "test", "staging", "production"])
def test_refuses_to_start_without_a_provider(
    monkeypatch: pytest.MonkeyPatch, environment: str
) -> None:
    monkeypatch.setenv("SAFEGUARDING_ENV", environment)
    with pytest.raises(ValidationError, match="STAFF_OIDC_ISSUER is required"):
        ConsoleSettings(**FIT)


def test_test_defaults_construct_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAFEGUARDING_ENV", "test")
    monkeypatch.setenv("STAFF_OIDC_ISSUER", LOCAL_ISSUER)
    settings = ConsoleSettings()
    assert settings.environment is Environment.TEST
    assert settings.redirect_uri == "http://127.0.0.1:8005/auth/callback"
    assert settings.secure_cookies is False


@pytest.mark.parametrize(
    "public_url",
    ["http://console.example.org", "http://10.0.0.5:8005", "https://console.example.org"],
)
def test_test_refuses_a_public_url_off_this_machine(
    monkeypatch: pytest.MonkeyPatch, public_url: str
) -> None:
    monkeypatch.setenv("SAFEGUARDING_ENV", "test")
    monkeypatch.setenv("STAFF_OIDC_ISSUER", LOCAL_ISSUER)
    with pytest.raises(ValidationError, match="CONSOLE_PUBLIC_URL: test serves this machine only"):
        ConsoleSettings(public_url=public_url)


@pytest.mark.parametrize("public_url", ["http://localhost:9000", "http://[::1]:8005"])
def test_test_accepts_other_loopback_addresses(
    monkeypatch: pytest.MonkeyPatch, public_url: str
) -> None:
    monkeypatch.setenv("SAFEGUARDING_ENV", "test")
    monkeypatch.setenv("STAFF_OIDC_ISSUER", LOCAL_ISSUER)
    assert ConsoleSettings(public_url=public_url).public_url == public_url


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_a_fit_deployment_passes(monkeypatch: pytest.MonkeyPatch, environment: str) -> None:
    deployed(monkeypatch, environment)
    settings = ConsoleSettings(**FIT)
    assert settings.problems() == []
    assert settings.secure_cookies is True
    assert settings.redirect_uri == "https://console.example.org/auth/callback"
    assert settings.console_logs() is False


def test_the_fit_deployment_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    deployed(monkeypatch)
    for name, value in FIT.items():
        monkeypatch.setenv(f"CONSOLE_{name.upper()}", value)
    monkeypatch.setenv("LOG_FORMAT", "json")
    settings = ConsoleSettings()
    assert settings.environment is Environment.PRODUCTION
    assert settings.meetings_url == FIT["meetings_url"]


def test_production_refuses_a_plain_http_public_url(monkeypatch: pytest.MonkeyPatch) -> None:
    deployed(monkeypatch)
    with pytest.raises(ValidationError, match="CONSOLE_PUBLIC_URL must be https outside dev"):
        ConsoleSettings(**FIT | {"public_url": "http://console.example.org"})


def test_production_refuses_a_loopback_public_url(monkeypatch: pytest.MonkeyPatch) -> None:
    deployed(monkeypatch)
    with pytest.raises(ValidationError, match="CONSOLE_PUBLIC_URL must not be a loopback"):
        ConsoleSettings(**FIT | {"public_url": "https://127.0.0.1:8005"})


@pytest.mark.parametrize("name", SERVICE_URLS)
def test_production_refuses_each_plain_http_service_url(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    deployed(monkeypatch)
    plain = FIT[name].replace("https://", "http://")
    with pytest.raises(ValidationError) as refused:
        ConsoleSettings(**FIT | {name: plain})
    message = str(refused.value)
    assert f"CONSOLE_{name.upper()} must be https outside dev and test" in message
    # Only the one that is wrong is named: the others were accepted.
    assert all(f"CONSOLE_{other.upper()}" not in message for other in SERVICE_URLS if other != name)


def test_production_refuses_a_plain_http_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    deployed(monkeypatch)
    monkeypatch.setenv("STAFF_OIDC_ISSUER", "http://login.example.org/realms/safeguarding")
    with pytest.raises(
        ValidationError, match="STAFF_OIDC_ISSUER and STAFF_OIDC_JWKS_URL must be https"
    ):
        ConsoleSettings(**FIT)


def test_production_refuses_the_dev_log_format(monkeypatch: pytest.MonkeyPatch) -> None:
    deployed(monkeypatch)
    monkeypatch.setenv("LOG_FORMAT", "console")
    with pytest.raises(ValidationError, match="LOG_FORMAT=console is for dev"):
        ConsoleSettings(**FIT)


def test_dev_may_use_the_console_log_format(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAFEGUARDING_ENV", "dev")
    monkeypatch.setenv("STAFF_OIDC_ISSUER", LOCAL_ISSUER)
    monkeypatch.setenv("LOG_FORMAT", "console")
    assert ConsoleSettings().console_logs() is True


@pytest.mark.parametrize(
    ("public_url", "secure"),
    [("https://localhost:8443", True), ("http://127.0.0.1:8005", False),
     ("http://localhost:8443", False)],
)  # fmt: skip
def test_secure_cookies_only_over_https(
    monkeypatch: pytest.MonkeyPatch, public_url: str, secure: bool
) -> None:
    monkeypatch.setenv("SAFEGUARDING_ENV", "test")
    monkeypatch.setenv("STAFF_OIDC_ISSUER", LOCAL_ISSUER)
    assert ConsoleSettings(public_url=public_url).secure_cookies is secure


def test_refused_values_are_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    deployed(monkeypatch)
    secret_looking = "http://user:hunter2-canary@console.example.org"
    with pytest.raises(ValidationError) as refused:
        ConsoleSettings(**FIT | {"public_url": secret_looking})
    assert "hunter2-canary" not in str(refused.value)
