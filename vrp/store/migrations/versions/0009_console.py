"""People's accounts and sessions for the web console.

Revision ID: 0009_console
Revises: 0008_reduced
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_console"
down_revision = "0008_reduced"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create console_users and console_sessions."""
    op.create_table(
        "console_users",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("username", sa.String(120), nullable=False, unique=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("organisation", sa.String(100), nullable=False),
        sa.Column("role", sa.String(40), nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"),
        sa.Column("locked_until", _TS),
        sa.Column("disabled_at", _TS),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("password_changed_at", _TS, nullable=False),
    )
    op.create_table(
        "console_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(36), nullable=False, index=True),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("last_seen_at", _TS, nullable=False),
        sa.Column("ended_at", _TS),
    )


def downgrade() -> None:
    """Drop the console's tables."""
    op.drop_table("console_sessions")
    op.drop_table("console_users")
