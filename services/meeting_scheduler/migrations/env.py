"""Alembic's env.py for meeting_scheduler's migrations: the service's migrate() on start and an operator's
`alembic -c services/meeting_scheduler/alembic.ini …` both run through shared/alembic_env.py."""

from services.meeting_scheduler.settings import SchedulerSettings
from shared.alembic_env import run_env

run_env(SchedulerSettings, version_table="alembic_version_meeting_scheduler")
