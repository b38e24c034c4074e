from __future__ import annotations

import base64

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import Environment, ServiceSettings

# Fixed keys make `dev` runs reproducible; both are public and refused anywhere else.
DEV_VAULT_KEY = base64.b64encode(b"dev-only-vault-key-not-secret!!!").decode()
DEV_POLICE_KEY = base64.b64encode(b"dev-only-police-signing-key-0000").decode()


class IntakeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore", frozen=True)

    database_url: str = "sqlite+aiosqlite:///.local/db/intake.sqlite3"
    vault_key_id: str = "dev-1"
    vault_key: SecretStr = Field(
        default=SecretStr(DEV_VAULT_KEY), description="base64 of 32 random bytes (AES-256-GCM)"
    )
    vault_old_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Retired vault keys by id (base64), still needed to read older records.",
    )
    police_keys: dict[str, SecretStr] = Field(
        default_factory=lambda: {"dev-1": SecretStr(DEV_POLICE_KEY)},
        description="HMAC keys of the police system by key id (base64); two may be active.",
    )
    require_signatures: bool | None = Field(
        default=None, description="Unsigned POSTs are accepted only in dev unless this is true."
    )
    signature_tolerance_seconds: int = Field(default=300, ge=30, le=900)
    vault_readers: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Bearer tokens allowed to read the vault, by the reader's name (audited).",
    )
    retention_days: int = Field(
        default=2190, ge=1, description="Personal data kept after last update."
    )
    purge_interval_seconds: float = Field(default=3600.0, gt=0)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    child_is_immediate: bool = True

    @property
    def signatures_required(self) -> bool:
        if self.require_signatures is None:
            return self.environment is not Environment.DEV
        return self.require_signatures

    @model_validator(mode="after")
    def _refuse_unsafe_values(self) -> IntakeSettings:
        for name, key in (("INTAKE_VAULT_KEY", self.vault_key), *self.vault_old_keys.items()):
            if len(base64.b64decode(key.get_secret_value())) != 32:
                raise ValueError(f"{name}: a vault key must be base64 of exactly 32 bytes")
        if self.environment is Environment.DEV:
            return self
        if self.vault_key.get_secret_value() == DEV_VAULT_KEY:
            raise ValueError("INTAKE_VAULT_KEY must be set outside dev (the dev key is public)")
        if any(key.get_secret_value() == DEV_POLICE_KEY for key in self.police_keys.values()):
            raise ValueError("INTAKE_POLICE_KEYS must be set outside dev (the dev key is public)")
        if not self.signatures_required:
            raise ValueError("unsigned police requests may be accepted in dev only")
        return self

    def police_key_bytes(self) -> dict[str, bytes]:
        return {
            key_id: base64.b64decode(key.get_secret_value())
            for key_id, key in self.police_keys.items()
        }
