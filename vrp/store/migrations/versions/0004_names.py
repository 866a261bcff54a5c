"""Say what things are: the consumers' de-duplication table is processed_events (not
"inbox", which is a receiver's list of referrals), and a routed referral nobody has answered
yet is "awaiting", as receivers see it, not "open".

Revision ID: 0004_names
Revises: 0003_merge
"""

from alembic import op

revision = "0004_names"
down_revision = "0003_merge"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Rename the table (and its primary key index on PostgreSQL); rename the state."""
    op.rename_table("inbox", "processed_events")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER INDEX inbox_pkey RENAME TO processed_events_pkey")
    op.execute("UPDATE routed SET status = 'awaiting' WHERE status = 'open'")


def downgrade() -> None:
    """Back to the old names."""
    op.execute("UPDATE routed SET status = 'open' WHERE status = 'awaiting'")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER INDEX processed_events_pkey RENAME TO inbox_pkey")
    op.rename_table("processed_events", "inbox")
