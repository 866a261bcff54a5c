"""Evidence measures: offers by when they were made and when they were closed, so that a
period's funnel and re-referral cohort read that period's offers, not every offer.

Revision ID: 0014_measures
Revises: 0013_evidence
"""

from alembic import op

revision = "0014_measures"
down_revision = "0013_evidence"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Index received_referrals by received_at and by closed_at."""
    op.create_index("ix_received_referrals_offered", "received_referrals", ["received_at"])
    op.create_index("ix_received_referrals_closed", "received_referrals", ["closed_at"])


def downgrade() -> None:
    """Drop the two indexes."""
    op.drop_index("ix_received_referrals_closed", "received_referrals")
    op.drop_index("ix_received_referrals_offered", "received_referrals")
