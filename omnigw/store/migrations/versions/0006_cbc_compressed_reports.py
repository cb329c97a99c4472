"""cbc: peers' answers stored compressed

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 17:30:00.000000
"""

import zlib
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REPORTS = ("report", "kill_report", "status_report")


def _rewrite(change: Callable[[bytes], bytes]) -> None:
    """The column type is the same; the stored values change form."""
    table = sa.table(
        "cbc_deliveries",
        sa.column("id", sa.Integer),
        *(sa.column(c, sa.LargeBinary) for c in REPORTS),
    )
    conn = op.get_bind()
    rows = conn.execute(sa.select(table)).all()
    for row in rows:
        values = {c: change(getattr(row, c)) for c in REPORTS if getattr(row, c) is not None}
        if values:
            conn.execute(sa.update(table).where(table.c.id == row.id).values(**values))


def upgrade() -> None:
    _rewrite(lambda value: zlib.compress(value, 1))


def downgrade() -> None:
    _rewrite(zlib.decompress)
