"""The hub's triage copy of a held referral is not an offer: received_referrals.kind says
which a row is ('offer' or 'triage'), so the store filters it in one place.

Revision ID: 0012_offer_kind
Revises: 0011_audit_pending
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_offer_kind"
down_revision = "0011_audit_pending"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add received_referrals.kind; the hub's copies published before it become 'triage'."""
    with op.batch_alter_table("received_referrals", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=10), nullable=False, server_default="offer")
        )
    # Before this revision the hub's copy was a row whose intervention was 'hub-triage'
    # (written out here on purpose: a migration must not change when the code does).
    op.execute("UPDATE received_referrals SET kind = 'triage' WHERE intervention = 'hub-triage'")


def downgrade() -> None:
    """Drop received_referrals.kind."""
    with op.batch_alter_table("received_referrals", schema=None) as batch_op:
        batch_op.drop_column("kind")
