"""Postcode directory: each postcode's local authority (from an ONS Postcode Directory).

Revision ID: 0010_geography
Revises: 0009_console
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_geography"
down_revision = "0009_console"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create postcode_areas."""
    op.create_table(
        "postcode_areas",
        sa.Column("postcode", sa.String(8), primary_key=True),
        sa.Column("local_authority", sa.String(9), nullable=False),
    )


def downgrade() -> None:
    """Drop postcode_areas."""
    op.drop_table("postcode_areas")
