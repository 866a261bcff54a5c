"""The audit chain: audit_log (hash-chained records) and audit_head (its last record,
seeded empty, locked by every writer).

Revision ID: 0007_audit
Revises: 0006_retention
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_audit"
down_revision = "0006_retention"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create audit_log and audit_head, with the head of the empty chain."""
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("referral_id", sa.String(length=36), nullable=True),
        sa.Column("subject", sa.String(length=32), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ix_audit_log_referral_id", "audit_log", ["referral_id"])
    op.create_index("ix_audit_log_subject", "audit_log", ["subject"])
    head = op.create_table(
        "audit_head",
        sa.Column("chain", sa.String(length=16), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("chain"),
    )
    op.bulk_insert(head, [{"chain": "main", "seq": 0, "hash": "0" * 64}])


def downgrade() -> None:
    """Drop the audit chain."""
    op.drop_table("audit_head")
    op.drop_index("ix_audit_log_subject", table_name="audit_log")
    op.drop_index("ix_audit_log_referral_id", table_name="audit_log")
    op.drop_table("audit_log")
