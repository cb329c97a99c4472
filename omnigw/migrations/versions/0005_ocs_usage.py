"""ocs: usage history of the embedded backend

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 15:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ocs_usage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account", sa.String(length=128), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("charge_key", sa.String(length=300), nullable=False),
        sa.Column("rating_group", sa.BigInteger(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ocs_usage")),
    )
    op.create_index("ix_ocs_usage_account_id", "ocs_usage", ["account", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_ocs_usage_account_id", table_name="ocs_usage")
    op.drop_table("ocs_usage")
