"""Acknowledgement codes expire, and attempts to use them are rate limited: an expiry on each
notification's code, and the table of rate-limit windows. Codes issued before this revision get
no expiry, which acknowledges nothing: they were 8 characters and guessable; their signed links
still work, and the escalation's next notification brings a new code.

Revision ID: notifier_0003
"""

import sqlalchemy as sa
from alembic import op

revision = "notifier_0003"
down_revision = "notifier_0002"
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("notifications", sa.Column("ack_expires_at", WHEN, nullable=True))
    op.create_table(
        "ack_attempt_windows",
        sa.Column("scope", sa.String(8), primary_key=True),
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("window_start", WHEN, primary_key=True),
        sa.Column("used", sa.Integer, nullable=False),
    )
    op.create_index("ix_ack_attempt_windows_start", "ack_attempt_windows", ["window_start"])


def downgrade() -> None:
    op.drop_index("ix_ack_attempt_windows_start", "ack_attempt_windows")
    op.drop_table("ack_attempt_windows")
    with op.batch_alter_table("notifications") as batch:  # SQLite cannot drop a column in place
        batch.drop_column("ack_expires_at")
