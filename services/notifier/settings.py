from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.safety import DEV_ACK_SECRET, decode_key, public_url_problem
from shared.settings import ServiceSettings

__all__ = ["DEV_ACK_SECRET", "NotifierSettings"]


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
    # Acknowledging by code (services/notifier/ack_limits.py has the guessing arithmetic).
    ack_code_hours: float = Field(
        default=24.0, gt=0, le=72, description="How long the code in a message acknowledges."
    )
    ack_limit_window_seconds: int = Field(
        default=900, ge=60, le=86_400, description="The fixed window the limits below count in."
    )
    ack_failures_per_client: int = Field(
        default=10, ge=1, le=1_000, description="Failed codes one address may try per window."
    )
    ack_failures_per_code: int = Field(
        default=5, ge=1, le=1_000, description="Failed tries of one code value per window."
    )
    ack_failures_global: int = Field(
        default=60, ge=1, le=10_000, description="Failed codes from everyone per window."
    )
    staff_tokens: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Static bearer tokens by rota person id (JSON), dev and test only; in dev, "
        "empty means 'dev-<person id>'. Elsewhere staff sign in with OpenID (STAFF_OIDC_*).",
    )

    def problems(self) -> list[str]:
        problems = super().problems()
        if problem := self.key_problem("NOTIFIER_ACK_SECRET", self.ack_secret):
            problems.append(problem)
        if not self.environment.is_local and (problem := public_url_problem(self.public_url)):
            problems.append(f"NOTIFIER_PUBLIC_URL {problem}")
        return problems

    def ack_key(self) -> bytes:
        return decode_key("NOTIFIER_ACK_SECRET", self.ack_secret.get_secret_value())
