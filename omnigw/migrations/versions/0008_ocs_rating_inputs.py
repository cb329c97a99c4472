"""ocs: kept usage remembers what CGRateS rates it by (service context, other party)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 10:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ocs_unreported_usage") as batch:
        batch.add_column(
            sa.Column("service_context", sa.String(256), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("other_party", sa.String(256), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ocs_unreported_usage") as batch:
        batch.drop_column("other_party")
        batch.drop_column("service_context")
