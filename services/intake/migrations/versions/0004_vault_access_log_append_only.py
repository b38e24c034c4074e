"""Every read and purge of personal data is audited in vault_access_log: make it append-only, so
the service's own connection cannot rewrite who read whose details, or why.

Revision ID: intake_0004
"""

from alembic import op

from shared.migration_steps import make_append_only

revision = "intake_0004"
down_revision = "intake_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    make_append_only("vault_access_log")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER vault_access_log_append_only ON vault_access_log")
        op.execute("DROP TRIGGER vault_access_log_no_truncate ON vault_access_log")
        return
    op.execute("DROP TRIGGER vault_access_log_no_update")
    op.execute("DROP TRIGGER vault_access_log_no_delete")
