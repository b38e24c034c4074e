"""docker-compose.yml cannot run here (no Docker engine), so check it statically."""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices

from services.casework.settings import CaseworkSettings
from services.console.settings import ConsoleSettings
from services.intake.settings import IntakeSettings
from services.meeting_scheduler.settings import SchedulerSettings
from services.notifier.settings import NotifierSettings
from shared.event_signing import public_key_of
from shared.rota import load_rota, safety_problems
from shared.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
SERVICE_NAMES = ("intake", "notifier", "casework", "meeting_scheduler")
PREFIXES = ("INTAKE", "NOTIFIER", "CASEWORK", "MEETINGS")
SERVICES: dict[str, tuple[str, type[ServiceSettings]]] = {
    "intake": ("services.intake.main:create_app", IntakeSettings),
    "notifier": ("services.notifier.main:create_app", NotifierSettings),
    "casework": ("services.casework.main:create_app", CaseworkSettings),
    "meeting_scheduler": ("services.meeting_scheduler.main:create_app", SchedulerSettings),
}


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_every_service_runs_its_own_app_the_faststream_way() -> None:
    services = compose()["services"]
    for name, (target, _) in SERVICES.items():
        command = services[name]["command"]
        assert command[:3] == ["faststream", "run", target], name
        assert "--factory" in command
        assert services[name]["build"]["dockerfile"] == "deploy/Dockerfile"
        assert (ROOT / services[name]["build"]["dockerfile"]).exists()


def test_infrastructure_and_start_order() -> None:
    services = compose()["services"]
    assert {"kafka-init", "postgres"} <= services.keys()
    assert "healthcheck" in services["postgres"]
    assert services["kafka-init"]["command"] == ["python", "-m", "deploy.topics"]
    for name in SERVICES:
        depends = services[name]["depends_on"]
        assert depends["kafka-init"]["condition"] == "service_completed_successfully"
        assert depends["postgres"]["condition"] == "service_healthy"
        assert "healthcheck" in services[name]


def test_environment_names_are_ones_the_services_read() -> None:
    services = compose()["services"]
    shared_names = {"SAFEGUARDING_ENV", "KAFKA_BOOTSTRAP_SERVERS", "LOG_LEVEL", "KAFKA_SECURITY",
                    "KAFKA_CA_FILE", "KAFKA_USERNAME", "KAFKA_PASSWORD", "EVENT_PUBLIC_KEYS",
                    "STAFF_OIDC_ISSUER", "STAFF_OIDC_ROLES_CLAIM", "STAFF_OIDC_PERSON_CLAIM"}  # fmt: skip
    alert_urls = re.compile(r"^[A-Z_]+_(ALERT|SMS|VOICE)_URL$")  # deploy/config/rota.yaml
    rota = (ROOT / "deploy" / "config" / "rota.yaml").read_text()
    for name, (_, settings) in SERVICES.items():
        prefix = settings.model_config.get("env_prefix", "")
        known = {prefix + field.upper() for field in settings.model_fields} | shared_names
        known |= {  # settings read under a name of their own, e.g. METRICS_TOKEN
            choice
            for field in settings.model_fields.values()
            if isinstance(field.validation_alias, AliasChoices)
            for choice in field.validation_alias.choices
            if isinstance(choice, str)
        }
        for variable in services[name]["environment"]:
            if alert_urls.match(variable):
                assert "${" + variable in rota, variable
            else:
                assert variable in known, f"{name}: {variable} is not a setting"
        database_url = services[name]["environment"][f"{prefix}DATABASE_URL"]
        assert database_url.startswith("postgresql+asyncpg://")
        # Each service has its own database, created by the init script.
        database = database_url.rsplit("/", 1)[1]
        assert f"CREATE DATABASE {database};" in (ROOT / "deploy" / "postgres-init.sql").read_text()


def test_production_secrets_are_required_not_defaulted() -> None:
    intake_env = compose()["services"]["intake"]["environment"]
    assert intake_env["SAFEGUARDING_ENV"] == "production"
    assert ":?" in intake_env["INTAKE_VAULT_KEY"], "the vault key must be supplied, never defaulted"
    assert ":?" in intake_env["INTAKE_POLICE_KEYS"]
    assert ":?" in compose()["services"]["notifier"]["environment"]["NOTIFIER_ACK_SECRET"]


REFERENCE = re.compile(r"\$\{([A-Z_]+)(?::([?-])([^}]*))?\}")


def referenced() -> set[str]:
    text = "\n".join(
        line for line in (ROOT / "docker-compose.yml").read_text().splitlines()
        if not line.lstrip().startswith("#")
    )  # fmt: skip
    return {match.group(1) for match in REFERENCE.finditer(text)}


def test_the_example_env_file_names_every_variable_the_compose_file_needs() -> None:
    example = (ROOT / "deploy" / "compose.env.example").read_text()
    named = {
        line.split("=", 1)[0] for line in example.splitlines() if "=" in line and line[0] != "#"
    }
    assert referenced() <= named


def fit_values() -> dict[str, str]:
    """What an operator fills in: real-looking keys, an https issuer and public URL, TLS mail and
    an SMS gateway for everyone paged."""
    seeds = {service: bytes([n]) * 32 for n, service in enumerate(SERVICE_NAMES, 11)}
    public = {service: {f"{service}-1": public_key_of(seed)} for service, seed in seeds.items()}
    values = {name: "" for name in referenced()}
    values |= {
        "KAFKA_BOOTSTRAP_SERVERS": "kafka-1.example.org:9093", "KAFKA_ADMIN_USERNAME": "admin",
        "POSTGRES_PASSWORD": "a-long-database-password",
        "STAFF_OIDC_ISSUER": "https://login.example.org/realms/safeguarding",
        "EVENT_PUBLIC_KEYS": json.dumps(public),
        "INTAKE_VAULT_KEY": base64.b64encode(bytes(range(32))).decode(), "INTAKE_VAULT_KEY_ID": "k1",
        "INTAKE_POLICE_KEYS": json.dumps({"police-1": base64.b64encode(bytes(range(1, 33))).decode()}),
        "NOTIFIER_ACK_SECRET": base64.b64encode(bytes(range(2, 34))).decode(),
        "NOTIFIER_PUBLIC_URL": "https://alerts.example.org",
        "METRICS_TOKEN": "a-metrics-token-of-more-than-32-characters",
        "NOTIFIER_ROTA_CALENDARS": json.dumps({"team": "https://calendar.example.org/team.ics"}),
        "NOTIFIER_HEARTBEAT_URLS": json.dumps(["jsons://sms.example.org/heartbeat"]),
        "NOTIFIER_OPERATOR_URLS": json.dumps(["mailtos://ops:pw@smtp.ops.example.net?to=oncall@example.net"]),
    }  # fmt: skip
    for prefix, service in zip(PREFIXES, SERVICE_NAMES, strict=True):
        values[f"{prefix}_KAFKA_PASSWORD"] = f"scram-password-of-{service}"
        values[f"{prefix}_EVENT_SIGNING_KEY_ID"] = f"{service}-1"
        values[f"{prefix}_EVENT_SIGNING_KEY"] = base64.b64encode(seeds[service]).decode()
    for name in referenced():
        if name.endswith("_SMS_URL"):
            values[name] = f"jsons://sms.example.org/{name.lower()}"
        elif name.endswith("_ALERT_URL"):
            values[name] = "mailtos://alerts:pw@smtp.example.org?to=duty@example.org"
    return values


def expand(value: object, values: dict[str, str]) -> str:
    return REFERENCE.sub(lambda match: values[match.group(1)] or match.group(3) or "", str(value))


def test_filled_in_the_compose_file_gives_every_service_settings_fit_for_production(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No default in the compose file may make a service refuse to start or run unsafely: with
    the required values filled in, each service's settings (and the rota it loads) pass every
    check a production start makes."""
    monkeypatch.chdir(ROOT)
    values = fit_values()
    services = compose()["services"]
    for name, (_, settings_class) in SERVICES.items():
        for variable in list(os.environ):
            monkeypatch.delenv(variable)
        environment = {
            key: expand(value, values) for key, value in services[name]["environment"].items()
        }
        environment = {key: value.replace("/app/", "") for key, value in environment.items()}
        for key, value in environment.items():
            monkeypatch.setenv(key, value)
        settings = settings_class()
        assert settings.environment.value == "production"
        assert settings.kafka_security == "sasl_scram_sha_512"
        assert settings.metrics_token is not None, f"{name}: /metrics would be absent"
        if isinstance(settings, NotifierSettings):  # the service that sends on the channels
            assert safety_problems(load_rota(settings.rota_file, environment)) == []
            assert set(settings.rota_calendars) == {"team"}


def test_filled_in_the_console_settings_are_fit_for_production(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    values = fit_values() | {"CONSOLE_PUBLIC_URL": "https://console.example.org"}
    console = compose()["services"]["console"]
    assert console["command"][:2] == ["uvicorn", "services.console.main:create_app"]
    for variable in list(os.environ):
        monkeypatch.delenv(variable)
    for key, value in console["environment"].items():
        monkeypatch.setenv(key, expand(value, values))
    settings = ConsoleSettings()
    assert settings.environment.value == "production"
    assert settings.secure_cookies
    assert settings.metrics_token is not None
    assert settings.problems() == []
    # An https-less public address is refused, so the default cannot be left in.
    monkeypatch.setenv("CONSOLE_PUBLIC_URL", "http://console.example.org")
    with pytest.raises(ValueError, match="CONSOLE_PUBLIC_URL must be https"):
        ConsoleSettings()


def test_the_compose_file_ships_no_development_stand_in() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    for stand_in in ("mode=insecure", "mailpit", "PLAINTEXT", "dev-", ":-change-me"):
        assert stand_in not in text, stand_in
