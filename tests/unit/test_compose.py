"""docker-compose.yml cannot run here (no Docker engine), so check it statically."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from services.casework.settings import CaseworkSettings
from services.intake.settings import IntakeSettings
from services.meeting_scheduler.settings import SchedulerSettings
from services.notifier.settings import NotifierSettings
from shared.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
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
    assert {"kafka", "kafka-init", "postgres", "mailpit"} <= services.keys()
    assert "healthcheck" in services["kafka"]
    assert "healthcheck" in services["postgres"]
    assert services["kafka"]["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert services["kafka-init"]["command"] == ["python", "-m", "deploy.topics"]
    for name in SERVICES:
        depends = services[name]["depends_on"]
        assert depends["kafka-init"]["condition"] == "service_completed_successfully"
        assert depends["postgres"]["condition"] == "service_healthy"
        assert "healthcheck" in services[name]


def test_environment_names_are_ones_the_services_read() -> None:
    services = compose()["services"]
    shared_names = {"SAFEGUARDING_ENV", "KAFKA_BOOTSTRAP_SERVERS", "LOG_LEVEL"}
    alert_urls = re.compile(r"^[A-Z_]+_ALERT_URL$")  # referenced from deploy/config/rota.yaml
    rota = (ROOT / "deploy" / "config" / "rota.yaml").read_text()
    for name, (_, settings) in SERVICES.items():
        prefix = settings.model_config.get("env_prefix", "")
        known = {prefix + field.upper() for field in settings.model_fields} | shared_names
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
