"""Settings every service shares. Each service subclasses them with its own env prefix."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Environment(StrEnum):
    DEV = "dev"
    TEST = "test"
    PRODUCTION = "production"


class ServiceSettings(BaseSettings):
    """Common settings. Kafka and environment are read without the service prefix."""

    # hide_input_in_errors: a refused setting must not print the secret it was given.
    model_config = SettingsConfigDict(
        extra="ignore", frozen=True, populate_by_name=True, hide_input_in_errors=True
    )

    environment: Environment = Field(
        default=Environment.DEV, validation_alias=AliasChoices("SAFEGUARDING_ENV")
    )
    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092", validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS")
    )
    topic_prefix: str = Field(default="", validation_alias=AliasChoices("KAFKA_TOPIC_PREFIX"))
    # Transport security to the cluster (docs/deployment/kafka-security.md).
    kafka_security: Literal["plaintext", "ssl", "sasl_scram_sha_512"] = Field(
        default="plaintext", validation_alias=AliasChoices("KAFKA_SECURITY")
    )
    kafka_username: str | None = Field(
        default=None, validation_alias=AliasChoices("KAFKA_USERNAME")
    )
    kafka_password: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("KAFKA_PASSWORD")
    )
    kafka_ca_file: Path | None = Field(default=None, validation_alias=AliasChoices("KAFKA_CA_FILE"))
    log_level: str = Field(default="INFO", validation_alias=AliasChoices("LOG_LEVEL"))
    database_url: str = "sqlite+aiosqlite:///.local/db/service.sqlite3"
    consumer_max_attempts: int = Field(default=3, ge=1, le=10)
    consumer_retry_backoff_seconds: float = Field(default=0.5, ge=0, le=30)
    outbox_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    # Off only for in-memory broker tests: a real deployment must refuse to start without topics.
    verify_topics_on_start: bool = True

    @model_validator(mode="after")
    def _refuse_unsafe_outside_dev(self) -> ServiceSettings:
        if self.environment is Environment.PRODUCTION and self.database_url.startswith("sqlite"):
            raise ValueError("production needs a server database (PostgreSQL), not SQLite")
        if self.kafka_security == "sasl_scram_sha_512" and not (
            self.kafka_username and self.kafka_password
        ):
            raise ValueError(
                "KAFKA_SECURITY=sasl_scram_sha_512 needs KAFKA_USERNAME and KAFKA_PASSWORD"
            )
        return self

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"
