"""Evidence: each referral's coded facts, the offer's accepted / first-contact / closed
times, the postcode's LSOA, and the population and deprivation denominators.

Revision ID: 0013_evidence
Revises: 0012_offer_kind
"""

import sqlalchemy as sa
from alembic import op

Time = sa.DateTime(timezone=True)  # written out: a migration must not change with the code

revision = "0013_evidence"
down_revision = "0012_offer_kind"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create referral_facts, populations and deprivation; add the offer times and LSOA."""
    op.create_table(
        "referral_facts",
        sa.Column("referral_id", sa.String(36), primary_key=True),
        sa.Column("referred_at", Time, nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("source_kind", sa.String(20), nullable=False),
        sa.Column("local_authority", sa.String(9)),
        sa.Column("lsoa", sa.String(9)),
        sa.Column("age", sa.Integer),
        sa.Column("sex", sa.String(20)),
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("reasons", sa.String(400), nullable=False),
        sa.Column("pseudonym", sa.String(32)),
    )
    op.create_index("ix_referral_facts_month", "referral_facts", ["month", "local_authority"])
    op.create_index("ix_referral_facts_subject", "referral_facts", ["pseudonym", "referred_at"])
    op.create_table(
        "populations",
        sa.Column("local_authority", sa.String(9), primary_key=True),
        sa.Column("year", sa.Integer, primary_key=True),
        sa.Column("sex", sa.String(20), primary_key=True),
        sa.Column("age", sa.Integer, primary_key=True),
        sa.Column("population", sa.Integer, nullable=False),
    )
    op.create_table(
        "deprivation",
        sa.Column("lsoa", sa.String(9), primary_key=True),
        sa.Column("local_authority", sa.String(9)),
        sa.Column("decile", sa.Integer, nullable=False),
        sa.Column("population", sa.Integer, nullable=False),
    )
    with op.batch_alter_table("received_referrals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("accepted_at", Time))
        batch_op.add_column(sa.Column("first_contact_at", Time))
        batch_op.add_column(sa.Column("closed_at", Time))
    with op.batch_alter_table("postcode_areas", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lsoa", sa.String(9)))


def downgrade() -> None:
    """Drop the evidence tables and columns."""
    with op.batch_alter_table("postcode_areas", schema=None) as batch_op:
        batch_op.drop_column("lsoa")
    with op.batch_alter_table("received_referrals", schema=None) as batch_op:
        batch_op.drop_column("closed_at")
        batch_op.drop_column("first_contact_at")
        batch_op.drop_column("accepted_at")
    op.drop_table("deprivation")
    op.drop_table("populations")
    op.drop_index("ix_referral_facts_subject", "referral_facts")
    op.drop_index("ix_referral_facts_month", "referral_facts")
    op.drop_table("referral_facts")
