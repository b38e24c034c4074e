from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import Environment, ServiceSettings

DEV_TOKENS = {"coordinator": "dev-coordinator", "head-of-service": "dev-head-of-service"}
DEV_HEAD_TOKENS = {"head-of-service": "dev-head-of-service"}  # the head of service's role in dev


class SchedulerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MEETINGS_", extra="ignore", frozen=True)

    database_url: str = "sqlite+aiosqlite:///.local/db/meeting_scheduler.sqlite3"
    calendar_file: Path = Path("deploy/config/meetings.yaml")
    publish_poll_seconds: float = Field(default=60.0, gt=0)
    training_pace_poll_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="How often the training pace is checked (also right after attendance).",
    )
    training_pace_warnings: bool = Field(
        default=True,
        description="Warn the head of service when training sessions fall behind the pace "
        "(tests turn it off unless they are about it, so their message counts stay exact).",
    )
    operation_retention_days: int = Field(
        default=200,
        ge=100,
        description="Operation names kept for the NASN counts (two quarters); counts stay.",
    )
    coordinator_tokens: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Bearer tokens of the coordinator (and deputies) by name (JSON). Dev: dev-coordinator.",
    )
    head_of_service_tokens: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Bearer tokens with the head of service's role by name (JSON), e.g. for the "
        "funder's report (GET /v1/reports/quarterly) without the identity provider. "
        "Dev: dev-head-of-service.",
    )

    @model_validator(mode="after")
    def _no_dev_tokens_outside_dev(self) -> SchedulerSettings:
        for name, tokens in (
            ("MEETINGS_COORDINATOR_TOKENS", self.coordinator_tokens),
            ("MEETINGS_HEAD_OF_SERVICE_TOKENS", self.head_of_service_tokens),
        ):
            if self.environment is not Environment.DEV and any(
                token.get_secret_value().startswith("dev-") for token in tokens.values()
            ):
                raise ValueError(f"{name}: dev- tokens are for dev only")
        return self

    def head_tokens(self) -> dict[str, str]:
        if self.head_of_service_tokens or self.environment is not Environment.DEV:
            return {
                name: token.get_secret_value()
                for name, token in self.head_of_service_tokens.items()
            }
        return dict(DEV_HEAD_TOKENS)

    def tokens(self) -> dict[str, str]:
        if self.coordinator_tokens or self.environment is not Environment.DEV:
            return {
                name: token.get_secret_value() for name, token in self.coordinator_tokens.items()
            }
        return dict(DEV_TOKENS)
