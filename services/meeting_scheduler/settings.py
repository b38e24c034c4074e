from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class SchedulerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MEETINGS_", extra="ignore", frozen=True)

    database_url: str = "sqlite+aiosqlite:///.local/db/meeting_scheduler.sqlite3"
    calendar_file: Path = Path("deploy/config/meetings.yaml")
    publish_poll_seconds: float = Field(default=60.0, gt=0)
