from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class NotifierSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", extra="ignore", frozen=True)

    database_url: str = "sqlite+aiosqlite:///.local/db/notifier.sqlite3"
    rota_file: Path = Path("deploy/config/rota.yaml")
    dispatch_poll_seconds: float = Field(default=2.0, gt=0, le=60)
    delivery_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How long a delivery attempt holds an alert before another may try.",
    )
