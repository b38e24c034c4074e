from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.safety import DEV_POLICE_KEY, DEV_VAULT_KEY, decode_key
from shared.settings import Environment, ServiceSettings

__all__ = ["DEV_POLICE_KEY", "DEV_VAULT_KEY", "IntakeSettings"]


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
    # The dead-man's switch (services/intake/heartbeat.py): how often a synthetic heartbeat takes
    # a contact's path to the notifier. 0 turns it off, in dev and test only.
    heartbeat_seconds: float = Field(
        default=60.0, ge=0, le=3600, description="Seconds between heartbeats; 0 = off (dev/test)."
    )

    @property
    def signatures_required(self) -> bool:
        if self.require_signatures is None:
            return self.environment is not Environment.DEV
        return self.require_signatures

    def problems(self) -> list[str]:
        # In every environment: AES-256 needs exactly 32 bytes; an HMAC key shorter than 32 bytes
        # (or an empty one, which verifies anything) is refused. Dev secrets: the shared check.
        keys: list[tuple[str, SecretStr, int | None]] = [("INTAKE_VAULT_KEY", self.vault_key, 32)]
        keys += [(f"INTAKE_VAULT_OLD_KEYS[{i}]", k, 32) for i, k in self.vault_old_keys.items()]
        keys += [(f"INTAKE_POLICE_KEYS[{i}]", k, None) for i, k in self.police_keys.items()]
        problems = super().problems()
        problems += [p for n, k, size in keys if (p := self.key_problem(n, k, size))]
        if not self.police_keys and self.signatures_required:
            problems.append("INTAKE_POLICE_KEYS: at least one police key is needed")
        if self.environment is not Environment.DEV and not self.signatures_required:
            problems.append("unsigned police requests may be accepted in dev only")
        if 0 < self.heartbeat_seconds < 1:
            problems.append("INTAKE_HEARTBEAT_SECONDS: at least 1 second, or 0 for none")
        if self.heartbeat_seconds == 0 and not self.environment.is_local:
            problems.append(
                "INTAKE_HEARTBEAT_SECONDS=0 turns the dead-man's switch off: dev and test only"
            )
        return problems

    def police_key_bytes(self) -> dict[str, bytes]:
        return {
            key_id: decode_key(key_id, key.get_secret_value())
            for key_id, key in self.police_keys.items()
        }
