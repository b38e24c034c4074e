from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from services.notifier.rota_calendar import SOURCE_LABEL
from services.notifier.rota_feeds import FeedProblem, feed_url
from shared.safety import DEV_ACK_SECRET, channel_problem, decode_key, public_url_problem
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
    # The clock's safety net (timers written by another notifier, work left by a crash): a timer
    # this notifier knows of fires when it falls due, not at the poll (scheduling.py).
    dispatch_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    # The notifier's events (raised, delivered, failed over, escalated, acknowledged) feed
    # casework's and the meeting scheduler's records, which nobody reads within a second; an
    # alert's raised event and its first sends' delivered events, tens of milliseconds apart, go
    # to Kafka in one relay flush, not three.
    outbox_linger_seconds: float = Field(
        default=0.25,
        ge=0,
        le=5,
        description="How long the notifier's events wait to share a relay flush (0: at once).",
    )
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
    # The dead-man's switch (services/notifier/heartbeat.py). Apprise URLs may hold credentials.
    heartbeat_urls: list[SecretStr] = Field(
        default_factory=list,
        description="Apprise URL(s) of the SMS/voice gateway's heartbeat or test endpoint: each "
        "heartbeat is one delivery attempt there, so a gateway refusing messages stops them. "
        "Empty (dev and test only): a heartbeat ends at the notifier.",
    )
    heartbeat_timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, description="Bound on one heartbeat delivery attempt."
    )
    heartbeat_ping_url: SecretStr | None = Field(
        default=None,
        description="Optional push monitor outside the system (Healthchecks.io, Uptime Kuma "
        "push): GET after each heartbeat that went end to end.",
    )
    heartbeat_stale_seconds: float = Field(
        default=180.0,
        ge=0,
        le=86_400,
        description="Page the operator when no heartbeat has gone end to end for this long "
        "(at least 3 heartbeat intervals); 0 = watchdog off, dev and test only.",
    )
    operator_urls: list[SecretStr] = Field(
        default_factory=list,
        description="Apprise URL(s) of the on-call operator, independent of the people's channels "
        "(another mail server, another SMS account): the watchdog pages here.",
    )

    # Leave and cover imported from calendars (services/notifier/rota_calendar.py).
    rota_calendars: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Calendar feeds imported periodically (JSON, source label -> http(s) or "
        "webcal URL; the URL may be a secret address). Empty: no periodic import.",
    )
    rota_calendar_poll_seconds: float = Field(
        default=900.0, gt=0, le=86_400, description="How often the feeds are imported."
    )
    rota_calendar_days: int = Field(
        default=60, ge=1, le=400, description="How far ahead recurring events are expanded."
    )

    @field_validator("heartbeat_ping_url", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value  # the compose file's `${…:-}` means "none"

    def problems(self) -> list[str]:
        problems = super().problems()
        if problem := self.key_problem("NOTIFIER_ACK_SECRET", self.ack_secret):
            problems.append(problem)
        if not self.environment.is_local and (problem := public_url_problem(self.public_url)):
            problems.append(f"NOTIFIER_PUBLIC_URL {problem}")
        if not self.environment.is_local:
            problems += self._heartbeat_problems()
        problems += self._calendar_problems()
        return problems

    def _calendar_problems(self) -> list[str]:
        problems = []
        for label, url in self.rota_calendars.items():
            if not SOURCE_LABEL.fullmatch(label):
                problems.append(
                    "NOTIFIER_ROTA_CALENDARS: a label is 1-31 lower-case letters, digits, - or _"
                )
                continue
            try:  # the rule, never the URL: it may be a secret address
                target = feed_url(url.get_secret_value())
            except FeedProblem as problem:
                problems.append(f"NOTIFIER_ROTA_CALENDARS[{label}]: {problem}")
                continue
            if not self.environment.is_local and (reason := public_url_problem(target)):
                problems.append(f"NOTIFIER_ROTA_CALENDARS[{label}] {reason}")
        return problems

    def _heartbeat_problems(self) -> list[str]:
        """Outside dev and test the dead-man's switch is on and can reach someone."""
        problems = []
        if not self.heartbeat_stale_seconds:
            problems.append(
                "NOTIFIER_HEARTBEAT_STALE_SECONDS=0 turns the watchdog off: dev and test only"
            )
        if not self.operator_urls:
            problems.append(
                "NOTIFIER_OPERATOR_URLS: the watchdog needs an operator channel (apprise URLs, "
                "independent of the people's channels)"
            )
        if not self.heartbeat_urls:
            problems.append(
                "NOTIFIER_HEARTBEAT_URLS: a heartbeat must reach the SMS gateway (its heartbeat "
                "or test endpoint) to prove deliveries work"
            )
        for name, urls in (
            ("NOTIFIER_OPERATOR_URLS", self.operator_urls),
            ("NOTIFIER_HEARTBEAT_URLS", self.heartbeat_urls),
        ):
            problems += [
                f"{name}[{index}]: {reason}"  # the rule, never the URL: it holds credentials
                for index, url in enumerate(urls)
                if (reason := channel_problem(url.get_secret_value()))
            ]
        if self.heartbeat_ping_url and (
            reason := public_url_problem(self.heartbeat_ping_url.get_secret_value())
        ):
            problems.append(f"NOTIFIER_HEARTBEAT_PING_URL {reason}")
        return problems

    def ack_key(self) -> bytes:
        return decode_key("NOTIFIER_ACK_SECRET", self.ack_secret.get_secret_value())
