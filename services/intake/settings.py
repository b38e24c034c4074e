from __future__ import annotations

import base64

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import Environment, ServiceSettings

# A fixed key makes `dev` runs reproducible; it is refused anywhere else.
DEV_VAULT_KEY = base64.b64encode(b"dev-only-vault-key-not-secret!!!").decode()


class IntakeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore", frozen=True)

    database_url: str = "sqlite+aiosqlite:///.local/db/intake.sqlite3"
    vault_key_id: str = "dev-1"
    vault_key: SecretStr = Field(
        default=SecretStr(DEV_VAULT_KEY), description="base64 of 32 random bytes (AES-256-GCM)"
    )
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    child_is_immediate: bool = True

    @model_validator(mode="after")
    def _refuse_dev_key(self) -> IntakeSettings:
        if len(base64.b64decode(self.vault_key.get_secret_value())) != 32:
            raise ValueError("INTAKE_VAULT_KEY must be base64 of exactly 32 bytes")
        if self.environment is not Environment.DEV and (
            self.vault_key.get_secret_value() == DEV_VAULT_KEY
        ):
            raise ValueError("INTAKE_VAULT_KEY must be set outside dev (the dev key is public)")
        return self
