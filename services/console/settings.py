"""The console's settings (env prefix CONSOLE_), refusing unsafe values outside dev and test.

The console holds no database and no Kafka client: it signs staff in with the organisation's OpenID
provider (the same STAFF_OIDC_* issuer whose tokens the services accept) and calls the services'
HTTP APIs with the signed-in person's access token."""

from __future__ import annotations

import sys
from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.safety import is_loopback_host, public_url_problem
from shared.settings import Environment
from shared.staff_auth import StaffOidcSettings


def backend_url_fit(url: str) -> bool:
    """Each call to a service carries a staff access token, so it travels over TLS, except to a
    single-label host (`http://intake:8000`): a service name that resolves only on the private
    network of one deployment (docker-compose, a Kubernetes namespace), which no other host
    reaches. A dotted or loopback host over http is refused."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return True
    host = parts.hostname or ""
    return parts.scheme == "http" and bool(host) and "." not in host and not is_loopback_host(host)


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CONSOLE_", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    environment: Environment = Field(
        default=None, validate_default=True, validation_alias=AliasChoices("SAFEGUARDING_ENV")
    )
    public_url: str = Field(
        default="http://127.0.0.1:8005",
        description="Where staff reach the console; the sign-in callback is under it.",
    )
    client_id: str = "safeguarding-console"
    # A confidential client's secret, where the provider registers the console as one; PKCE is
    # used either way (RFC 9700 recommends it for every client).
    client_secret: SecretStr | None = None
    intake_url: str = "http://127.0.0.1:8001"
    notifier_url: str = "http://127.0.0.1:8002"
    casework_url: str = "http://127.0.0.1:8003"
    meetings_url: str = "http://127.0.0.1:8004"
    # NCSC guidance for shared or unattended devices: a short idle limit, a hard day-long limit.
    idle_minutes: int = Field(default=15, ge=1, le=120)
    session_hours: int = Field(default=10, ge=1, le=24)
    # How often "Now" asks for new alerts without a reload (htmx polling).
    poll_seconds: int = Field(default=5, ge=1, le=60)
    service_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    log_level: str = Field(default="INFO", validation_alias=AliasChoices("LOG_LEVEL"))
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto", validation_alias=AliasChoices("LOG_FORMAT")
    )
    staff_oidc: StaffOidcSettings = Field(default_factory=StaffOidcSettings)
    # Prometheus metrics, as on every service (shared/app.py add_metrics_route): open on loopback
    # in dev and test, elsewhere only with the bearer token, and absent when no token is set.
    metrics_enabled: bool = Field(default=True, validation_alias=AliasChoices("METRICS_ENABLED"))
    metrics_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("METRICS_TOKEN")
    )

    @field_validator("environment", mode="before")
    @classmethod
    def _environment_is_required(cls, value: object) -> object:
        if value is None or value == "":
            raise ValueError("SAFEGUARDING_ENV is required: dev, test, staging or production")
        return value

    @model_validator(mode="after")
    def _refuse_unsafe_values(self) -> ConsoleSettings:
        if problems := self.problems():
            raise ValueError("; ".join(problems))
        return self

    def problems(self) -> list[str]:
        problems = []
        if not self.staff_oidc.issuer:
            problems.append("STAFF_OIDC_ISSUER is required: the console signs staff in with it")
        if self.environment.is_local:
            if not is_loopback_host(urlsplit(self.public_url).hostname):
                problems.append(f"CONSOLE_PUBLIC_URL: {self.environment} serves this machine only")
            return problems
        if self.metrics_token is not None and len(self.metrics_token.get_secret_value()) < 32:
            problems.append("METRICS_TOKEN: a metrics token must be at least 32 characters")
        if reason := self.staff_oidc.refusal_when_deployed():
            problems.append(reason)
        if reason := public_url_problem(self.public_url):
            problems.append(f"CONSOLE_PUBLIC_URL {reason}")
        for name in ("intake_url", "notifier_url", "casework_url", "meetings_url"):
            if not backend_url_fit(getattr(self, name)):
                problems.append(
                    f"CONSOLE_{name.upper()} must be https outside dev and test (or a service "
                    "name on the deployment's private container network)"
                )
        if self.log_format == "console":
            problems.append("LOG_FORMAT=console is for dev: logs elsewhere are JSON")
        return problems

    def console_logs(self) -> bool:
        """Coloured lines for a person in dev on a terminal; JSON everywhere else."""
        if self.environment is not Environment.DEV or self.log_format == "json":
            return False
        return self.log_format == "console" or sys.stdout.isatty()

    @property
    def secure_cookies(self) -> bool:
        """Secure cookies need https; dev and test serve plain http on loopback."""
        return self.public_url.startswith("https://")

    @property
    def redirect_uri(self) -> str:
        return f"{self.public_url.rstrip('/')}/auth/callback"
