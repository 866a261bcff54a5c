"""The FHIR door's messages: each X-Request-ID a sender used, its conversation and where
replies go.

Revision ID: 0015_fhir_messages
Revises: 0014_measures
"""

import sqlalchemy as sa
from alembic import op

Time = sa.DateTime(timezone=True)  # written out: a migration must not change with the code

revision = "0015_fhir_messages"
down_revision = "0014_measures"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create fhir_messages."""
    op.create_table(
        "fhir_messages",
        sa.Column("source_org", sa.String(64), primary_key=True),
        sa.Column("request_id", sa.String(200), primary_key=True),
        sa.Column("reason", sa.String(10), nullable=False),
        sa.Column("bundle_id", sa.String(200), nullable=False),
        sa.Column("correlation_id", sa.String(200)),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("referral_id", sa.String(36)),
        sa.Column("service_request_id", sa.String(64), nullable=False),
        sa.Column("source_endpoint", sa.String(500)),
        sa.Column("category", sa.String(64)),
        sa.Column("ods_code", sa.String(20)),
        sa.Column("received_at", Time, nullable=False),
    )
    op.create_index("ix_fhir_messages_referral_id", "fhir_messages", ["referral_id"])
    op.create_index(
        "ix_fhir_messages_request", "fhir_messages", ["source_org", "service_request_id"]
    )
    op.create_index(
        "uq_fhir_messages_new",
        "fhir_messages",
        ["source_org", "service_request_id"],
        unique=True,
        sqlite_where=sa.text("reason = 'new'"),
        postgresql_where=sa.text("reason = 'new'"),
    )


def downgrade() -> None:
    """Drop fhir_messages."""
    op.drop_table("fhir_messages")
