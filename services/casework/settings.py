from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import Environment, ServiceSettings

DEV_TOKEN_PREFIX = "dev-"  # noqa: S105 - a marker refused outside dev, not a secret


class CaseworkSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CASEWORK_", extra="ignore", frozen=True)

    database_url: str = "sqlite+aiosqlite:///.local/db/casework.sqlite3"
    config_file: Path = Path("deploy/config/casework.yaml")
    rota_file: Path = Path("deploy/config/rota.yaml")
    directory_file: Path = Path("deploy/config/services-directory.yaml")
    staff_tokens: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Bearer tokens by rota person id (JSON). In dev, empty means 'dev-<person id>'.",
    )
    chase_poll_seconds: float = Field(default=30.0, gt=0)
    figures_every_hours: float = Field(default=24.0, gt=0)
    quarter_poll_seconds: float = Field(
        default=900.0,
        gt=0,
        description="How often casework checks whether a financial quarter has ended in London "
        "and, if its CaseworkQuarterV1 is not yet published, publishes it (once per quarter, "
        "across restarts and instances). The project start and the acknowledgement targets are "
        "in the config file (project_starts, acknowledgement_target_minutes).",
    )

    @model_validator(mode="after")
    def _no_dev_tokens_outside_dev(self) -> CaseworkSettings:
        if self.environment is not Environment.DEV and any(
            token.get_secret_value().startswith(DEV_TOKEN_PREFIX)
            for token in self.staff_tokens.values()
        ):
            raise ValueError("CASEWORK_STAFF_TOKENS: dev- tokens are for dev only")
        return self

    def tokens(self, people: list[str]) -> dict[str, str]:
        if self.staff_tokens or self.environment is not Environment.DEV:
            return {person: token.get_secret_value() for person, token in self.staff_tokens.items()}
        return {person: f"{DEV_TOKEN_PREFIX}{person}" for person in people}
