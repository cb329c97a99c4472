"""cbc: the reports peers send unasked about a delivery (SBc-AP indications), one row each

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 12:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cbc_peer_reports",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "delivery_id",
            sa.Integer,
            sa.ForeignKey("cbc_deliveries.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("frame", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_cbc_peer_reports_delivery_id", "cbc_peer_reports", ["delivery_id"])


def downgrade() -> None:
    op.drop_index("ix_cbc_peer_reports_delivery_id", "cbc_peer_reports")
    op.drop_table("cbc_peer_reports")
