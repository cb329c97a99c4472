"""cbc: the inventory holds LTE cells (ECGIs) beside GSM cells (CGIs): its key is a cell

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 13:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cbc_inventory") as batch:
        batch.alter_column("cgi", new_column_name="cell")


def downgrade() -> None:
    with op.batch_alter_table("cbc_inventory") as batch:
        batch.alter_column("cell", new_column_name="cgi")
