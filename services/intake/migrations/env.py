"""Alembic's env.py for intake's migrations: the service's migrate() on start and an operator's
`alembic -c services/intake/alembic.ini …` both run through shared/alembic_env.py."""

from services.intake.settings import IntakeSettings
from shared.alembic_env import run_env

run_env(IntakeSettings, version_table="alembic_version_intake")
