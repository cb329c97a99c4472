"""cbc: stopped messages and the chain of references an alert answers to

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 07:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cbc_alerts") as batch:
        batch.add_column(sa.Column("chain", sa.JSON(), nullable=True))
    with op.batch_alter_table("cbc_messages") as batch:
        batch.add_column(sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cbc_messages") as batch:
        batch.drop_column("stopped_at")
    with op.batch_alter_table("cbc_alerts") as batch:
        batch.drop_column("chain")
