"""Settings every service shares. Each service subclasses them with its own env prefix."""

from __future__ import annotations

import sys
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.event_signing import EventSigner, EventVerifier, public_key_of
from shared.housekeeping import redelivery_horizon
from shared.safety import DEV_EVENT_SEEDS, decode_key, is_dev_secret
from shared.staff_auth import StaffOidcSettings


class Environment(StrEnum):
    """`dev`: one person's machine, public dev secrets allowed. `test`: the automated test suite,
    its own secrets, everything on loopback. `staging` and `production`: real deployments, where
    every check in shared/safety.py applies."""

    DEV = "dev"
    TEST = "test"
    STAGING = "staging"
    PRODUCTION = "production"

    @property
    def is_local(self) -> bool:
        """Runs on one machine only: serves loopback clients only, may talk plaintext to a
        loopback broker and loopback stand-ins for gateways."""
        return self in (Environment.DEV, Environment.TEST)


# Settings of bearer tokens handed out by hand (dev and test only: shared/staff_auth.py).
STATIC_TOKEN_SETTINGS = (
    "staff_tokens", "coordinator_tokens", "head_of_service_tokens", "vault_readers",
)  # fmt: skip


class ServiceSettings(BaseSettings):
    """Common settings. Kafka and environment are read without the service prefix."""

    # hide_input_in_errors: a refused setting must not print the secret it was given.
    model_config = SettingsConfigDict(
        extra="ignore", frozen=True, populate_by_name=True, hide_input_in_errors=True
    )

    # No default: a deployment that forgets the variable must not start as `dev` (public secrets,
    # unsigned contacts). The README's run command says `dev` explicitly.
    environment: Environment = Field(
        default=None,
        validate_default=True,
        validation_alias=AliasChoices("SAFEGUARDING_ENV"),
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
    # auto: coloured lines for a person in dev on a terminal, JSON otherwise; JSON outside dev.
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto", validation_alias=AliasChoices("LOG_FORMAT")
    )
    database_url: str = "sqlite+aiosqlite:///.local/db/service.sqlite3"
    consumer_max_attempts: int = Field(default=3, ge=1, le=10)
    consumer_retry_backoff_seconds: float = Field(default=0.5, ge=0, le=30)
    outbox_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    # Consumed offsets are committed once per this window, not once per record
    # (shared/offset_commits.py); 0 commits each record as it is handled.
    offset_commit_window_seconds: float = Field(default=0.2, ge=0, le=5)
    # Housekeeping (shared/housekeeping.py): relayed outbox rows are kept a day for diagnosis;
    # idempotency claims longer than any duplicate can arrive (checked in `problems`).
    housekeeping_interval_seconds: float = Field(default=3600.0, gt=0, le=86400)
    housekeeping_batch_rows: int = Field(default=1000, ge=1, le=100_000)
    outbox_keep_hours: float = Field(default=24.0, gt=0, le=90 * 24)
    processed_events_keep_days: int = Field(default=90, ge=1, le=3650)
    # Signed internal events (shared/event_signing.py): this service's own Ed25519 key (base64 of
    # the 32-byte private seed) and key id, and every producer's public keys by key id
    # (EVENT_PUBLIC_KEYS, JSON: {"intake": {"intake-1": "<base64>"}, …}). In dev, when unset, keys
    # derived from public dev seeds, refused everywhere else.
    event_signing_key_id: str | None = None
    event_signing_key: SecretStr | None = None
    event_public_keys: dict[str, dict[str, str]] = Field(
        default_factory=dict, validation_alias=AliasChoices("EVENT_PUBLIC_KEYS")
    )
    # Off only for in-memory broker tests: a real deployment must refuse to start without topics.
    verify_topics_on_start: bool = True
    # Prometheus metrics (shared/metrics.py). Off: no Kafka middleware, no sampler, /metrics 404
    # (the bench compares on and off). The token guards /metrics outside dev and test, where an
    # unset token means no /metrics at all rather than an open one.
    metrics_enabled: bool = Field(default=True, validation_alias=AliasChoices("METRICS_ENABLED"))
    metrics_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("METRICS_TOKEN")
    )
    # How often gauges read from the database and the consumers (outbox, lag) are refreshed.
    metrics_sample_seconds: float = Field(
        default=5.0, gt=0, le=300, validation_alias=AliasChoices("METRICS_SAMPLE_SECONDS")
    )
    # Traces (shared/tracing.py). On by default even with nowhere to send them: spans give every
    # log line its trace id. Export (OTLP over HTTP) only when an endpoint is set, read from the
    # standard OpenTelemetry variables; the traces-specific one wins.
    tracing_enabled: bool = Field(default=True, validation_alias=AliasChoices("TRACING_ENABLED"))
    otlp_endpoint: str | None = Field(
        default=None, validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_ENDPOINT")
    )
    otlp_traces_endpoint: str | None = Field(
        default=None, validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )
    # Staff sign-in (shared/staff_auth.py): read from STAFF_OIDC_*, the same for every service.
    staff_oidc: StaffOidcSettings = Field(default_factory=StaffOidcSettings)

    @field_validator("environment", mode="before")
    @classmethod
    def _environment_is_required(cls, value: object) -> object:
        if value is None or value == "":
            raise ValueError(
                "SAFEGUARDING_ENV is required: dev, test, staging or production "
                "(no default, so a forgotten variable never means dev)"
            )
        return value

    @model_validator(mode="after")
    def _refuse_unsafe_values(self) -> ServiceSettings:
        # Every problem at once, so an operator fixes them in one round (deploy.check prints them).
        if problems := self.problems():
            raise ValueError("; ".join(problems))
        return self

    def problems(self) -> list[str]:
        """Every reason these settings may not start, each naming the setting and the rule, never
        the value. Services extend it (calling super() first)."""
        problems = []
        if not self.environment.is_local and self.database_url.startswith("sqlite"):
            problems.append(f"{self.environment} needs a server database (PostgreSQL), not SQLite")
        if self.environment is not Environment.DEV:
            problems.extend(
                f"{name} holds a public dev secret: dev secrets work in dev only"
                for name in self._dev_secret_settings()
            )
        problems += self._event_key_problems()
        if timedelta(days=self.processed_events_keep_days) <= (horizon := redelivery_horizon()):
            prefix = str(self.model_config.get("env_prefix", "")).upper()
            problems.append(
                f"{prefix}PROCESSED_EVENTS_KEEP_DAYS must be more than {horizon.days} days: a "
                "duplicate can arrive that long after the first copy (shared/housekeeping.py)"
            )
        if not self.environment.is_local:
            if reason := self.staff_oidc.refusal_when_deployed():
                problems.append(reason)
            problems.extend(
                f"{str(self.model_config.get('env_prefix', '')).upper()}{name.upper()}: static "
                "staff tokens are for dev and test only; staff sign in with OpenID Connect"
                for name in STATIC_TOKEN_SETTINGS
                if getattr(self, name, None)
            )
        if self.metrics_token is not None and len(self.metrics_token.get_secret_value()) < 32:
            problems.append("METRICS_TOKEN: a metrics token must be at least 32 characters")
        problems += self._otlp_problems()
        if self.log_format == "console" and self.environment is not Environment.DEV:
            problems.append("LOG_FORMAT=console is for dev: logs elsewhere are JSON")
        if self.kafka_security == "plaintext" and not self.environment.is_local:
            problems.append(
                "KAFKA_SECURITY=plaintext is for dev and test only: "
                "use ssl or sasl_scram_sha_512 (docs/deployment/kafka-security.md)"
            )
        if self.kafka_security == "sasl_scram_sha_512" and not (
            self.kafka_username and self.kafka_password
        ):
            problems.append(
                "KAFKA_SECURITY=sasl_scram_sha_512 needs KAFKA_USERNAME and KAFKA_PASSWORD"
            )
        return problems

    def _event_key_problems(self) -> list[str]:
        prefix = str(self.model_config.get("env_prefix", "")).upper()
        problems = []
        if self.environment is not Environment.DEV and not (
            self.event_signing_key and self.event_signing_key_id and self.event_public_keys
        ):
            problems.append(
                f"{prefix}EVENT_SIGNING_KEY, {prefix}EVENT_SIGNING_KEY_ID and EVENT_PUBLIC_KEYS "
                "are required outside dev"
            )
        if self.event_signing_key is not None:
            name = f"{prefix}EVENT_SIGNING_KEY"
            if problem := self.key_problem(name, self.event_signing_key, exact_bytes=32):
                problems.append(problem)
        for producer, keys in self.event_public_keys.items():
            for key_id, encoded in keys.items():
                if problem := self.key_problem(
                    f"EVENT_PUBLIC_KEYS[{producer}][{key_id}]", SecretStr(encoded), exact_bytes=32
                ):
                    problems.append(problem)
        return problems

    def otlp_traces_url(self) -> str | None:
        """Where spans are exported: the traces endpoint as given, or the generic endpoint with
        OTLP's /v1/traces path (as the OpenTelemetry SDK reads these variables); None: nowhere."""
        if self.otlp_traces_endpoint:
            return self.otlp_traces_endpoint
        if self.otlp_endpoint:
            return f"{self.otlp_endpoint.rstrip('/')}/v1/traces"
        return None

    def _otlp_problems(self) -> list[str]:
        url = self.otlp_traces_url()
        if url is None:
            return []
        parsed = urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            return ["OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT must be an http(s) URL"]
        # Spans carry no personal data, but they show how and when the system handles contacts:
        # outside dev and test they travel encrypted, unless to a collector on the same host.
        loopback = parsed.hostname in ("localhost", "127.0.0.1", "::1")
        if parsed.scheme == "http" and not loopback and not self.environment.is_local:
            return [
                f"OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT: {self.environment} exports traces over "
                "https (plain http only to a collector on loopback)"
            ]
        return []

    def event_signer(self, service: str) -> EventSigner:
        if self.event_signing_key is None or self.event_signing_key_id is None:
            # Only in dev: outside it, `problems` refused to construct these settings.
            return EventSigner.from_seed(service, f"{service}-dev", DEV_EVENT_SEEDS[service])
        seed = decode_key("EVENT_SIGNING_KEY", self.event_signing_key.get_secret_value())
        return EventSigner.from_seed(service, self.event_signing_key_id, seed)

    def event_verifier(self) -> EventVerifier:
        public_keys = self.event_public_keys or {
            service: {f"{service}-dev": public_key_of(seed)}
            for service, seed in DEV_EVENT_SEEDS.items()
        }
        return EventVerifier.from_config(public_keys, self.topic_prefix)

    @staticmethod
    def key_problem(name: str, value: SecretStr, exact_bytes: int | None = None) -> str | None:
        try:
            raw = decode_key(name, value.get_secret_value())
        except ValueError as error:
            return str(error)
        if exact_bytes is not None and len(raw) != exact_bytes:
            return f"{name}: a key must be base64 of exactly {exact_bytes} bytes"
        return None

    def _dev_secret_settings(self) -> list[str]:
        """The variable names of secret settings, of any service, holding a published dev secret."""
        prefix = str(self.model_config.get("env_prefix", "")).upper()
        found = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            secrets = value.values() if isinstance(value, dict) else [value]
            if any(
                isinstance(secret, SecretStr) and is_dev_secret(secret.get_secret_value())
                for secret in secrets
            ):
                found.append(f"{prefix}{name.upper()}")
        return found

    def console_logs(self) -> bool:
        if self.environment is not Environment.DEV or self.log_format == "json":
            return False
        return self.log_format == "console" or sys.stdout.isatty()

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"
