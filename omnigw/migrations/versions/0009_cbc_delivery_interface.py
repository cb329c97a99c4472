"""cbc: each delivery names the interface its peer speaks, so its answers are read right

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 11:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cbc_deliveries") as batch:
        batch.add_column(
            sa.Column("interface", sa.String(16), nullable=False, server_default="cbsp")
        )


def downgrade() -> None:
    with op.batch_alter_table("cbc_deliveries") as batch:
        batch.drop_column("interface")
