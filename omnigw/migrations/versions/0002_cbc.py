"""cbc: alerts, messages, deliveries (with the peers' answers), history, cell inventory

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 09:35:41.204180
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "cbc_alerts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("external_ref", sa.String(length=200), nullable=True),
        sa.Column("alert_class", sa.String(length=32), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("category", sa.Integer(), nullable=False),
        sa.Column("repetition_seconds", sa.Integer(), nullable=False),
        sa.Column("broadcasts_requested", sa.Integer(), nullable=False),
        sa.Column("target", sa.JSON(), nullable=False),
        sa.Column("submitted_by", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cbc_alerts")),
    )
    with op.batch_alter_table("cbc_alerts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cbc_alerts_external_ref"), ["external_ref"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_cbc_alerts_state"), ["state"], unique=False)

    op.create_table(
        "cbc_inventory",
        sa.Column("cgi", sa.String(length=24), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("azimuth", sa.Float(), nullable=True),
        sa.Column("updated_by", sa.String(length=320), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("cgi", name=op.f("pk_cbc_inventory")),
    )
    op.create_table(
        "cbc_alert_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("what", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["cbc_alerts.id"],
            name=op.f("fk_cbc_alert_events_alert_id_cbc_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cbc_alert_events")),
    )
    with op.batch_alter_table("cbc_alert_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cbc_alert_events_alert_id"), ["alert_id"], unique=False
        )

    op.create_table(
        "cbc_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.String(length=32), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("text", sa.String(length=4000), nullable=False),
        sa.Column("message_identifier", sa.Integer(), nullable=False),
        sa.Column("geo_scope", sa.Integer(), nullable=False),
        sa.Column("message_code", sa.Integer(), nullable=False),
        sa.Column("update_number", sa.Integer(), nullable=False),
        sa.Column("dcs", sa.Integer(), nullable=False),
        sa.Column("pages", sa.JSON(), nullable=False),
        sa.Column("warning_type", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["cbc_alerts.id"],
            name=op.f("fk_cbc_messages_alert_id_cbc_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cbc_messages")),
    )
    with op.batch_alter_table("cbc_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cbc_messages_alert_id"), ["alert_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_cbc_messages_message_identifier"), ["message_identifier"], unique=False
        )

    op.create_table(
        "cbc_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("peer", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("confirmed_serial", sa.Integer(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("report", sa.LargeBinary(), nullable=True),
        sa.Column("kill_report", sa.LargeBinary(), nullable=True),
        sa.Column("status_report", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["cbc_messages.id"],
            name=op.f("fk_cbc_deliveries_message_id_cbc_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cbc_deliveries")),
        sa.UniqueConstraint("message_id", "peer", name=op.f("uq_cbc_deliveries_message_id")),
    )
    with op.batch_alter_table("cbc_deliveries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cbc_deliveries_peer"), ["peer"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("cbc_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cbc_deliveries_peer"))

    op.drop_table("cbc_deliveries")
    with op.batch_alter_table("cbc_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cbc_messages_message_identifier"))
        batch_op.drop_index(batch_op.f("ix_cbc_messages_alert_id"))

    op.drop_table("cbc_messages")
    with op.batch_alter_table("cbc_alert_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cbc_alert_events_alert_id"))

    op.drop_table("cbc_alert_events")
    op.drop_table("cbc_inventory")
    with op.batch_alter_table("cbc_alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cbc_alerts_state"))
        batch_op.drop_index(batch_op.f("ix_cbc_alerts_external_ref"))

    op.drop_table("cbc_alerts")
