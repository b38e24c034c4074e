"""Police operations announced ahead: one row per operation group, the announcement as last
received (services/intake/operations.py).

Revision ID: intake_0006
"""

import sqlalchemy as sa
from alembic import op

revision = "intake_0006"
down_revision = "intake_0005"
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "operations",
        sa.Column("operation_group", sa.String(80), primary_key=True),
        sa.Column("operation", sa.String(64), nullable=False),
        sa.Column("force_code", sa.String(8), nullable=False),
        sa.Column("district", sa.String(32), nullable=False),
        sa.Column("starts_at", WHEN, nullable=False),
        sa.Column("ends_at", WHEN, nullable=False),
        sa.Column("expected_victims", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("announced_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("operations")
