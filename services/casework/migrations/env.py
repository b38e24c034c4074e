"""Alembic's env.py for casework's migrations: the service's migrate() on start and an operator's
`alembic -c services/casework/alembic.ini …` both run through shared/alembic_env.py."""

from services.casework.settings import CaseworkSettings
from shared.alembic_env import run_env

run_env(CaseworkSettings, version_table="alembic_version_casework")
