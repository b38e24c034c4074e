"""Intake's first schema: cases, the encrypted vault, the outbox.

Revision ID: intake_0001
"""

import sqlalchemy as sa
from alembic import op

from shared.migration_steps import create_outbox_v1

revision = "intake_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("case_reference", sa.String(32), primary_key=True),
        sa.Column("force_code", sa.String(8), nullable=False),
        sa.Column("police_reference", sa.String(64), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("pathway", sa.String(32), nullable=False),
        sa.Column("urgency", sa.String(16), nullable=False),
        sa.Column("district", sa.String(32), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("force_code", "police_reference", name="uq_cases_police_contact"),
    )
    op.create_table(
        "vault_records",
        sa.Column(
            "case_reference", sa.String(32), sa.ForeignKey("cases.case_reference"), primary_key=True
        ),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("nonce", sa.LargeBinary, nullable=False),
        sa.Column("ciphertext", sa.LargeBinary, nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
    )
    create_outbox_v1()


def downgrade() -> None:
    for table in ("outbox", "vault_records", "cases"):
        op.drop_table(table)
