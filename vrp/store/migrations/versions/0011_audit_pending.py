"""Audit records waiting to be chained: writers insert here without a lock, and one sealer
at a time moves them onto the chain (audit_log), so no referral waits for another's commit.

Revision ID: 0011_audit_pending
Revises: 0010_geography
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_audit_pending"
down_revision = "0010_geography"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create audit_pending."""
    op.create_table(
        "audit_pending",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("referral_id", sa.String(length=36), nullable=True),
        sa.Column("subject", sa.String(length=32), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    """Drop audit_pending."""
    op.drop_table("audit_pending")
