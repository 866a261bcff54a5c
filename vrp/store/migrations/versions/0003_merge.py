"""Join the intake and router branches of the schema.

Revision ID: 0003_merge
Revises: 0002_intake, 0002_router
"""

revision = "0003_merge"
down_revision = ("0002_intake", "0002_router")
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to do: both branches' tables exist once both are applied."""


def downgrade() -> None:
    """Nothing to undo."""
