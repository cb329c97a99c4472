"""ocs: embedded balances, usage the OCS has yet to take

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 11:24:34.068896
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ocs_balances",
        sa.Column("account", sa.String(length=128), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account", "unit", name=op.f("pk_ocs_balances")),
    )
    op.create_table(
        "ocs_unreported_usage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("request_id", sa.String(length=300), nullable=False),
        sa.Column("charge_key", sa.String(length=300), nullable=False),
        sa.Column("session_id", sa.String(length=256), nullable=False),
        sa.Column("account", sa.String(length=128), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("used", sa.BigInteger(), nullable=False),
        sa.Column("rating_group", sa.BigInteger(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ocs_unreported_usage")),
        sa.UniqueConstraint("request_id", name=op.f("uq_ocs_unreported_usage_request_id")),
    )


def downgrade() -> None:
    op.drop_table("ocs_unreported_usage")
    op.drop_table("ocs_balances")
