"""Task lifecycle, assignment, history, chasing and the facts behind the funder's figures.

Revision ID: casework_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "casework_0002"
down_revision = "casework_0001"
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("assignee", sa.String(64), nullable=True))
        batch.add_column(sa.Column("assigned_by", sa.String(16), nullable=True))
        batch.add_column(sa.Column("organisation", sa.String(64), nullable=True))
        batch.add_column(sa.Column("detail", sa.String(500), nullable=True))
        batch.add_column(sa.Column("updated_at", WHEN, nullable=True))
        batch.add_column(sa.Column("closed_at", WHEN, nullable=True))
    op.create_index("ix_tasks_status_due", "tasks", ["status", "due_at"])
    op.create_index("ix_tasks_assignee", "tasks", ["assignee"])
    op.create_table(
        "task_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("task_id", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("change", sa.String(32), nullable=False),
        sa.Column("from_value", sa.String(64), nullable=True),
        sa.Column("to_value", sa.String(64), nullable=True),
        sa.Column("detail", sa.String(500), nullable=True),
        sa.Column("at", WHEN, nullable=False),
    )
    op.create_index("ix_task_history_task", "task_history", ["task_id"])
    op.create_table(
        "case_owners",
        sa.Column("case_reference", sa.String(32), primary_key=True),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("since", WHEN, nullable=False),
    )
    op.create_table(
        "cases",
        sa.Column("case_reference", sa.String(32), primary_key=True),
        sa.Column("pathway", sa.String(32), nullable=False),
        sa.Column("recorded_at", WHEN, nullable=False),
        sa.Column("opened_at", WHEN, nullable=False),
    )
    op.create_table(
        "task_chases",
        sa.Column("task_id", sa.String(64), primary_key=True),
        sa.Column("threshold", sa.String(16), primary_key=True),
        sa.Column("chased_at", WHEN, nullable=False),
    )


def downgrade() -> None:
    for table in ("task_chases", "cases", "case_owners", "task_history"):
        op.drop_table(table)
    op.drop_index("ix_tasks_assignee", "tasks")
    op.drop_index("ix_tasks_status_due", "tasks")
    with op.batch_alter_table("tasks") as batch:
        for column in (
            "closed_at",
            "updated_at",
            "detail",
            "organisation",
            "assigned_by",
            "assignee",
        ):
            batch.drop_column(column)
