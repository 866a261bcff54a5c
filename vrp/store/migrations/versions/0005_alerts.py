"""Alerts of every kind and channel: what each says, every delivery attempt, stored timers
for reminders and escalations, and webhook endpoints disabled after 410 Gone.

Revision ID: 0005_alerts
Revises: 0004_names
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_alerts"
down_revision = "0004_names"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Widen addresses (webhook URLs), add kind and detail; create the new tables."""
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.alter_column(
            "address", existing_type=sa.String(length=254), type_=sa.String(length=1000)
        )
        batch_op.add_column(
            sa.Column("kind", sa.String(length=20), nullable=False, server_default="new-referral")
        )
        batch_op.add_column(sa.Column("detail", sa.JSON(), nullable=False, server_default="{}"))
    op.create_table(
        "delivery_attempts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("notification_id", sa.String(length=36), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_delivery_attempts_notification_id", "delivery_attempts", ["notification_id"]
    )
    op.create_table(
        "timers",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("referral_id", sa.String(length=36), nullable=False),
        sa.Column("organisation", sa.String(length=64), nullable=False),
        sa.Column("intervention", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("traceparent", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key"),
    )
    op.create_index("ix_timers_referral_id", "timers", ["referral_id"])
    op.create_index("ix_timers_due", "timers", ["status", "due_at"])
    op.create_table(
        "disabled_endpoints",
        sa.Column("organisation", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=1000), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("organisation", "url"),
    )


def downgrade() -> None:
    """Drop the new tables and columns."""
    op.drop_table("disabled_endpoints")
    op.drop_index("ix_timers_due", table_name="timers")
    op.drop_index("ix_timers_referral_id", table_name="timers")
    op.drop_table("timers")
    op.drop_index("ix_delivery_attempts_notification_id", table_name="delivery_attempts")
    op.drop_table("delivery_attempts")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_column("detail")
        batch_op.drop_column("kind")
        batch_op.alter_column(
            "address", existing_type=sa.String(length=1000), type_=sa.String(length=254)
        )
