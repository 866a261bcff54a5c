"""Referral retention: when intake's referral and each receiver's copy were reduced to
coded facts (null while they still hold personal data).

Revision ID: 0008_reduced
Revises: 0007_audit
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_reduced"
down_revision = "0007_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add referrals.reduced_at and received_referrals.reduced_at."""
    op.add_column("referrals", sa.Column("reduced_at", sa.DateTime(timezone=True)))
    op.add_column("received_referrals", sa.Column("reduced_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    """Drop the reduction times."""
    op.drop_column("received_referrals", "reduced_at")
    op.drop_column("referrals", "reduced_at")
