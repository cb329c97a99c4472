"""crm

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 12:11:14.444512
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "crm_activity",
        sa.Column("activity_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("activity_id", name=op.f("pk_crm_activity")),
    )
    with op.batch_alter_table("crm_activity", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_crm_activity_at"), ["at"], unique=False)

    op.create_table(
        "crm_customers",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("customer_name", sa.String(length=200), nullable=False),
        sa.Column("customer_type", sa.String(length=16), nullable=False),
        sa.Column("customer_status", sa.String(length=16), nullable=False),
        sa.Column("customer_email", sa.String(length=320), nullable=True),
        sa.Column("customer_phone", sa.String(length=32), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_modified", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_crm_customers")),
    )
    with op.batch_alter_table("crm_customers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_crm_customers_customer_email"), ["customer_email"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_crm_customers_customer_name"), ["customer_name"], unique=False
        )

    op.create_table(
        "crm_inventory_templates",
        sa.Column("inventory_template_id", sa.Integer(), nullable=False),
        sa.Column("item", sa.String(length=100), nullable=False),
        sa.Column("itemtext1_label", sa.String(length=100), nullable=False),
        sa.Column("itemtext2_label", sa.String(length=100), nullable=False),
        sa.Column(
            "wholesale_cost", sa.Numeric(precision=14, scale=4, asdecimal=False), nullable=False
        ),
        sa.Column(
            "retail_cost", sa.Numeric(precision=14, scale=4, asdecimal=False), nullable=False
        ),
        sa.Column("allow_dropdown_staff", sa.Boolean(), nullable=False),
        sa.Column("allow_dropdown_customer", sa.Boolean(), nullable=False),
        sa.Column("icon", sa.String(length=100), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_modified", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("inventory_template_id", name=op.f("pk_crm_inventory_templates")),
        sa.UniqueConstraint("item", name=op.f("uq_crm_inventory_templates_item")),
    )
    op.create_table(
        "crm_products",
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("product_slug", sa.String(length=100), nullable=False),
        sa.Column("product_name", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("provisioning_play", sa.String(length=200), nullable=False),
        sa.Column("provisioning_json_vars", sa.Text(), nullable=False),
        sa.Column("relies_on_list", sa.Text(), nullable=False),
        sa.Column("contract_days", sa.Integer(), nullable=False),
        sa.Column(
            "retail_cost", sa.Numeric(precision=14, scale=4, asdecimal=False), nullable=False
        ),
        sa.Column(
            "retail_setup_cost", sa.Numeric(precision=14, scale=4, asdecimal=False), nullable=False
        ),
        sa.Column(
            "wholesale_cost", sa.Numeric(precision=14, scale=4, asdecimal=False), nullable=False
        ),
        sa.Column(
            "wholesale_setup_cost",
            sa.Numeric(precision=14, scale=4, asdecimal=False),
            nullable=False,
        ),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("terms", sa.Text(), nullable=False),
        sa.Column("service_type", sa.String(length=50), nullable=False),
        sa.Column("residential", sa.Boolean(), nullable=False),
        sa.Column("business", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("inventory_items_list", sa.Text(), nullable=False),
        sa.Column("icon", sa.String(length=100), nullable=False),
        sa.Column("features_list", sa.Text(), nullable=False),
        sa.Column("auto_renew", sa.String(length=5), nullable=False),
        sa.Column("customer_can_purchase", sa.Boolean(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_modified", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("product_id", name=op.f("pk_crm_products")),
        sa.UniqueConstraint("product_slug", name=op.f("uq_crm_products_product_slug")),
    )
    op.create_table(
        "crm_provisioning_jobs",
        sa.Column("provision_id", sa.Integer(), nullable=False),
        sa.Column("play", sa.String(length=200), nullable=False),
        sa.Column("operation", sa.String(length=16), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("product_id", sa.Integer(), nullable=True),
        sa.Column("service_id", sa.Integer(), nullable=True),
        sa.Column("requested_by", sa.String(length=320), nullable=False),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("provision_id", name=op.f("pk_crm_provisioning_jobs")),
    )
    with op.batch_alter_table("crm_provisioning_jobs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_crm_provisioning_jobs_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_crm_provisioning_jobs_service_id"), ["service_id"], unique=False
        )

    op.create_table(
        "ocs_accounts",
        sa.Column("account", sa.String(length=128), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account", name=op.f("pk_ocs_accounts")),
    )
    op.create_table(
        "crm_contacts",
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("contact_type", sa.String(length=16), nullable=False),
        sa.Column("contact_firstname", sa.String(length=100), nullable=False),
        sa.Column("contact_lastname", sa.String(length=100), nullable=True),
        sa.Column("contact_email", sa.String(length=320), nullable=True),
        sa.Column("contact_phone", sa.String(length=32), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_modified", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["crm_customers.customer_id"],
            name=op.f("fk_crm_contacts_customer_id_crm_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("contact_id", name=op.f("pk_crm_contacts")),
    )
    with op.batch_alter_table("crm_contacts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_crm_contacts_customer_id"), ["customer_id"], unique=False
        )

    op.create_table(
        "crm_provisioning_steps",
        sa.Column("step_id", sa.Integer(), nullable=False),
        sa.Column("provision_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("output", sa.Text(), nullable=False),
        sa.Column("started", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["provision_id"],
            ["crm_provisioning_jobs.provision_id"],
            name=op.f("fk_crm_provisioning_steps_provision_id_crm_provisioning_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("step_id", name=op.f("pk_crm_provisioning_steps")),
    )
    with op.batch_alter_table("crm_provisioning_steps", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_crm_provisioning_steps_provision_id"), ["provision_id"], unique=False
        )

    op.create_table(
        "crm_sites",
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("site_name", sa.String(length=200), nullable=False),
        sa.Column("address_line_1", sa.String(length=300), nullable=False),
        sa.Column("address_line_2", sa.String(length=300), nullable=True),
        sa.Column("city", sa.String(length=100), nullable=True),
        sa.Column("state", sa.String(length=100), nullable=True),
        sa.Column("postcode", sa.String(length=20), nullable=True),
        sa.Column("country", sa.String(length=100), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_modified", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["crm_customers.customer_id"],
            name=op.f("fk_crm_sites_customer_id_crm_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site_id", name=op.f("pk_crm_sites")),
    )
    with op.batch_alter_table("crm_sites", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_crm_sites_customer_id"), ["customer_id"], unique=False)

    op.create_table(
        "crm_services",
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("service_uuid", sa.String(length=64), nullable=False),
        sa.Column("service_name", sa.String(length=200), nullable=False),
        sa.Column("service_type", sa.String(length=50), nullable=False),
        sa.Column("service_status", sa.String(length=16), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("service_start_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("service_end_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_modified", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["crm_customers.customer_id"],
            name=op.f("fk_crm_services_customer_id_crm_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["crm_products.product_id"],
            name=op.f("fk_crm_services_product_id_crm_products"),
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["crm_sites.site_id"], name=op.f("fk_crm_services_site_id_crm_sites")
        ),
        sa.PrimaryKeyConstraint("service_id", name=op.f("pk_crm_services")),
        sa.UniqueConstraint("service_uuid", name=op.f("uq_crm_services_service_uuid")),
    )
    with op.batch_alter_table("crm_services", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_crm_services_customer_id"), ["customer_id"], unique=False
        )

    op.create_table(
        "crm_inventory_items",
        sa.Column("inventory_id", sa.Integer(), nullable=False),
        sa.Column("inventory_template_id", sa.Integer(), nullable=False),
        sa.Column("itemtext1", sa.String(length=100), nullable=False),
        sa.Column("itemtext2", sa.String(length=100), nullable=False),
        sa.Column("item_status", sa.String(length=16), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_modified", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["crm_customers.customer_id"],
            name=op.f("fk_crm_inventory_items_customer_id_crm_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["inventory_template_id"],
            ["crm_inventory_templates.inventory_template_id"],
            name=op.f("fk_crm_inventory_items_inventory_template_id_crm_inventory_templates"),
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["crm_services.service_id"],
            name=op.f("fk_crm_inventory_items_service_id_crm_services"),
        ),
        sa.PrimaryKeyConstraint("inventory_id", name=op.f("pk_crm_inventory_items")),
        sa.UniqueConstraint(
            "inventory_template_id",
            "itemtext1",
            name=op.f("uq_crm_inventory_items_inventory_template_id"),
        ),
    )
    with op.batch_alter_table("crm_inventory_items", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_crm_inventory_items_inventory_template_id"),
            ["inventory_template_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_crm_inventory_items_itemtext2"), ["itemtext2"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_crm_inventory_items_service_id"), ["service_id"], unique=False
        )

    for table, column in (
        ("crm_customers", "customer_name"), ("crm_customers", "customer_email"),
        ("crm_customers", "customer_phone"), ("crm_services", "service_name"),
        ("crm_inventory_items", "itemtext1"), ("crm_inventory_items", "itemtext2"),
    ):  # fmt: skip
        op.create_index(f"ix_{table}_{column}_lower", table, [sa.text(f"lower({column})")])


def downgrade() -> None:
    with op.batch_alter_table("crm_inventory_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_crm_inventory_items_service_id"))
        batch_op.drop_index(batch_op.f("ix_crm_inventory_items_itemtext2"))
        batch_op.drop_index(batch_op.f("ix_crm_inventory_items_inventory_template_id"))

    op.drop_table("crm_inventory_items")
    with op.batch_alter_table("crm_services", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_crm_services_customer_id"))

    op.drop_table("crm_services")
    with op.batch_alter_table("crm_sites", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_crm_sites_customer_id"))

    op.drop_table("crm_sites")
    with op.batch_alter_table("crm_provisioning_steps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_crm_provisioning_steps_provision_id"))

    op.drop_table("crm_provisioning_steps")
    with op.batch_alter_table("crm_contacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_crm_contacts_customer_id"))

    op.drop_table("crm_contacts")
    op.drop_table("ocs_accounts")
    with op.batch_alter_table("crm_provisioning_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_crm_provisioning_jobs_service_id"))
        batch_op.drop_index(batch_op.f("ix_crm_provisioning_jobs_customer_id"))

    op.drop_table("crm_provisioning_jobs")
    op.drop_table("crm_products")
    op.drop_table("crm_inventory_templates")
    with op.batch_alter_table("crm_customers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_crm_customers_customer_name"))
        batch_op.drop_index(batch_op.f("ix_crm_customers_customer_email"))

    op.drop_table("crm_customers")
    with op.batch_alter_table("crm_activity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_crm_activity_at"))

    op.drop_table("crm_activity")
