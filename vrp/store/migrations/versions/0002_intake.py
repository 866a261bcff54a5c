"""intake: partner inboxes, OAuth clients, assertion replay store, access tokens

Revision ID: 0002_intake
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_intake"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Demo key ids such as demo-example-road-surgery did not fit in 24 characters.
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.alter_column(
            "key_id", existing_type=sa.String(length=24), type_=sa.String(length=64)
        )
    op.create_table(
        "received_referrals",
        sa.Column("referral_id", sa.String(length=36), nullable=False),
        sa.Column("intervention", sa.String(length=64), nullable=False),
        sa.Column("organisation", sa.String(length=64), nullable=False),
        sa.Column("reference", sa.String(length=16), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=True),
        sa.Column("outcome", sa.String(length=40), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("referral_id", "intervention"),
    )
    with op.batch_alter_table("received_referrals", schema=None) as batch_op:
        batch_op.create_index(
            "ix_received_referrals_inbox",
            ["organisation", "received_at", "referral_id"],
            unique=False,
        )
    op.create_table(
        "oauth_clients",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("organisation", sa.String(length=64), nullable=False),
        sa.Column("jwks", sa.JSON(), nullable=False),
        sa.Column("scopes", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("client_id"),
    )
    with op.batch_alter_table("oauth_clients", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_oauth_clients_organisation"), ["organisation"], unique=False
        )
    op.create_table(
        "oauth_assertions",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("jti", sa.String(length=200), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "jti"),
    )
    with op.batch_alter_table("oauth_assertions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_oauth_assertions_expires_at"), ["expires_at"], unique=False
        )
    op.create_table(
        "access_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("organisation", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.String(length=200), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    with op.batch_alter_table("access_tokens", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_access_tokens_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:
    op.drop_table("access_tokens")
    op.drop_table("oauth_assertions")
    op.drop_table("oauth_clients")
    op.drop_table("received_referrals")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.alter_column(
            "key_id", existing_type=sa.String(length=64), type_=sa.String(length=24)
        )
