"""Agenda items keep the referral's pathway and the time of the police contact, for the printed
agenda's "Pathway" and "Days since contact" columns (both in ReferralOpenedV1 all along). Items
listed before this have neither: the agenda prints "not recorded".

Revision ID: meeting_scheduler_0010
"""

import sqlalchemy as sa
from alembic import op

revision = "meeting_scheduler_0010"
down_revision = "meeting_scheduler_0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agenda_items") as batch:
        batch.add_column(sa.Column("pathway", sa.String(32), nullable=True))
        batch.add_column(sa.Column("contacted_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("agenda_items") as batch:
        batch.drop_column("contacted_at")
        batch.drop_column("pathway")
