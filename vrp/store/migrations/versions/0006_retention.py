"""Keep dead-lettered originals out of the dead-letter topic: a restricted table of their
own, which the dead-letter event refers to.

Revision ID: 0006_retention
Revises: 0005_alerts
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_retention"
down_revision = "0005_alerts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create dead_letter_originals."""
    op.create_table(
        "dead_letter_originals",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=True),
        sa.Column("consumer", sa.String(length=64), nullable=False),
        sa.Column("topic", sa.String(length=249), nullable=False),
        sa.Column("position", sa.Text(), nullable=False),
        sa.Column("original", sa.LargeBinary(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    """Drop dead_letter_originals (and the originals in it)."""
    op.drop_table("dead_letter_originals")
