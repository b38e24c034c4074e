"""An onward referral's method, date and outcome, on the task and in its history.

DOMAIN.md: a referral has an organisation and an outcome; staff also record how and when it was
made. All optional: tasks referred before this keep what they had. The history's columns are
added in place (never by copying the table), so its append-only triggers stay as they are.

Revision ID: casework_0004
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "casework_0004"
down_revision = "casework_0003"
branch_labels = None
depends_on = None

TASK_COLUMNS = ("referral_method", "referred_on", "outcome")
HISTORY_COLUMNS = ("organisation", "referral_method", "referred_on", "outcome")


def _columns(names: tuple[str, ...]) -> list[sa.Column[Any]]:
    kinds: dict[str, sa.types.TypeEngine[Any]] = {
        "organisation": sa.String(64),
        "referral_method": sa.String(32),
        "referred_on": sa.Date(),
        "outcome": sa.String(500),
    }
    return [sa.Column(name, kinds[name], nullable=True) for name in names]


def upgrade() -> None:
    for column in _columns(TASK_COLUMNS):
        op.add_column("tasks", column)
    for column in _columns(HISTORY_COLUMNS):
        op.add_column("task_history", column)


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35+ and PostgreSQL): no table copy, triggers kept.
    for name in HISTORY_COLUMNS:
        op.drop_column("task_history", name)
    for name in TASK_COLUMNS:
        op.drop_column("tasks", name)
