"""Alembic's env.py for notifier's migrations: the service's migrate() on start and an operator's
`alembic -c services/notifier/alembic.ini …` both run through shared/alembic_env.py."""

from services.notifier.settings import NotifierSettings
from shared.alembic_env import run_env

run_env(NotifierSettings, version_table="alembic_version_notifier")
