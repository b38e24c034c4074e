from __future__ import annotations

import base64
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import Environment, ServiceSettings

DEV_ACK_SECRET = base64.b64encode(b"dev-only-ack-link-secret-0000000").decode()


class NotifierSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", extra="ignore", frozen=True)

    database_url: str = "sqlite+aiosqlite:///.local/db/notifier.sqlite3"
    rota_file: Path = Path("deploy/config/rota.yaml")
    alerting_file: Path = Path("deploy/config/alerting.yaml")
    public_url: str = Field(
        default="http://127.0.0.1:8002",
        description="Base of the acknowledgement links in messages.",
    )
    ack_secret: SecretStr = Field(
        default=SecretStr(DEV_ACK_SECRET), description="base64 HMAC key for ack links"
    )
    dispatch_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    delivery_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How long a delivery attempt holds a notification before another may try.",
    )

    @model_validator(mode="after")
    def _refuse_dev_secret(self) -> NotifierSettings:
        if (
            self.environment is not Environment.DEV
            and self.ack_secret.get_secret_value() == DEV_ACK_SECRET
        ):
            raise ValueError(
                "NOTIFIER_ACK_SECRET must be set outside dev (the dev secret is public)"
            )
        return self
