"""CRM tables: customers, contacts, sites, products, services, inventory, activity.

Column names follow OmniCRM's API field names, so a row and its JSON agree.
Money is stored as NUMERIC and served as a number, as OmniCRM does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from omnigw.store.base import Base, UtcDateTime, utcnow

Money = Numeric(14, 4, asdecimal=False)


class Stamped:
    """When a row was made and last changed (OmniCRM's `created` / `last_modified`)."""

    created: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_modified: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Customer(Stamped, Base):
    __tablename__ = "crm_customers"

    customer_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_name: Mapped[str] = mapped_column(String(200), index=True)
    customer_type: Mapped[str] = mapped_column(String(16))  # individual | business
    customer_status: Mapped[str] = mapped_column(String(16))  # active | suspended | closed
    customer_email: Mapped[str | None] = mapped_column(String(320), nullable=True, index=True)
    customer_phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)


class Contact(Stamped, Base):
    __tablename__ = "crm_contacts"

    contact_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("crm_customers.customer_id", ondelete="CASCADE"), index=True
    )
    contact_type: Mapped[str] = mapped_column(String(16))  # primary|billing|technical|...
    contact_firstname: Mapped[str] = mapped_column(String(100))
    contact_lastname: Mapped[str | None] = mapped_column(String(100), nullable=True)
    contact_email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    contact_phone: Mapped[str | None] = mapped_column(String(32), nullable=True)


class Site(Stamped, Base):
    __tablename__ = "crm_sites"

    site_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("crm_customers.customer_id", ondelete="CASCADE"), index=True
    )
    site_name: Mapped[str] = mapped_column(String(200))
    address_line_1: Mapped[str] = mapped_column(String(300))
    address_line_2: Mapped[str | None] = mapped_column(String(300), nullable=True)
    city: Mapped[str | None] = mapped_column(String(100), nullable=True)
    state: Mapped[str | None] = mapped_column(String(100), nullable=True)
    postcode: Mapped[str | None] = mapped_column(String(20), nullable=True)
    country: Mapped[str | None] = mapped_column(String(100), nullable=True)
    latitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    longitude: Mapped[float | None] = mapped_column(Float, nullable=True)


class Product(Stamped, Base):
    """The seed's product guide, field for field (list fields stay strings, as OmniCRM has them)."""

    __tablename__ = "crm_products"

    product_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_slug: Mapped[str] = mapped_column(String(100), unique=True)
    product_name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(16))  # standalone | addon | bundle
    provisioning_play: Mapped[str] = mapped_column(String(200))
    provisioning_json_vars: Mapped[str] = mapped_column(Text, default="")
    relies_on_list: Mapped[str] = mapped_column(Text, default="")
    contract_days: Mapped[int] = mapped_column(Integer, default=0)
    retail_cost: Mapped[float] = mapped_column(Money)
    retail_setup_cost: Mapped[float] = mapped_column(Money, default=0)
    wholesale_cost: Mapped[float] = mapped_column(Money, default=0)
    wholesale_setup_cost: Mapped[float] = mapped_column(Money, default=0)
    comment: Mapped[str] = mapped_column(Text, default="")
    terms: Mapped[str] = mapped_column(Text, default="")
    service_type: Mapped[str] = mapped_column(String(50), default="")
    residential: Mapped[bool] = mapped_column(Boolean, default=True)
    business: Mapped[bool] = mapped_column(Boolean, default=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    inventory_items_list: Mapped[str] = mapped_column(Text, default="")
    icon: Mapped[str] = mapped_column(String(100), default="")
    features_list: Mapped[str] = mapped_column(Text, default="")
    auto_renew: Mapped[str] = mapped_column(String(5), default="False")  # "True" | "False"
    customer_can_purchase: Mapped[bool] = mapped_column(Boolean, default=False)


class Service(Stamped, Base):
    """A product in use by a customer; `service_uuid` is its charging (CGRateS) account."""

    __tablename__ = "crm_services"

    service_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_uuid: Mapped[str] = mapped_column(String(64), unique=True)
    service_name: Mapped[str] = mapped_column(String(200))
    service_type: Mapped[str] = mapped_column(String(50), default="")
    service_status: Mapped[str] = mapped_column(String(16))  # active | suspended | inactive
    customer_id: Mapped[int] = mapped_column(ForeignKey("crm_customers.customer_id"), index=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("crm_sites.site_id"), nullable=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("crm_products.product_id"))
    service_start_date: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    service_end_date: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class InventoryTemplate(Stamped, Base):
    __tablename__ = "crm_inventory_templates"

    inventory_template_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item: Mapped[str] = mapped_column(String(100), unique=True)
    itemtext1_label: Mapped[str] = mapped_column(String(100), default="")
    itemtext2_label: Mapped[str] = mapped_column(String(100), default="")
    wholesale_cost: Mapped[float] = mapped_column(Money, default=0)
    retail_cost: Mapped[float] = mapped_column(Money, default=0)
    allow_dropdown_staff: Mapped[bool] = mapped_column(Boolean, default=False)
    allow_dropdown_customer: Mapped[bool] = mapped_column(Boolean, default=False)
    icon: Mapped[str] = mapped_column(String(100), default="")


class InventoryItem(Stamped, Base):
    """One SIM, number, router...; allocated to at most one service at a time."""

    __tablename__ = "crm_inventory_items"
    __table_args__ = (UniqueConstraint("inventory_template_id", "itemtext1"),)

    inventory_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inventory_template_id: Mapped[int] = mapped_column(
        ForeignKey("crm_inventory_templates.inventory_template_id"), index=True
    )
    itemtext1: Mapped[str] = mapped_column(String(100))
    itemtext2: Mapped[str] = mapped_column(String(100), default="", index=True)
    item_status: Mapped[str] = mapped_column(String(16))  # available | allocated | retired
    service_id: Mapped[int | None] = mapped_column(
        ForeignKey("crm_services.service_id"), nullable=True, index=True
    )
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("crm_customers.customer_id"), nullable=True
    )


class ProvisioningJob(Base):
    """One run of a play; `context` holds what its steps made, so a rollback can undo it."""

    __tablename__ = "crm_provisioning_jobs"

    provision_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    play: Mapped[str] = mapped_column(String(200))
    operation: Mapped[str] = mapped_column(String(16))  # provision|suspend|resume|deprovision
    status: Mapped[int] = mapped_column(Integer)  # 0 ok, 1 running, 2 failed
    customer_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    product_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    service_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    requested_by: Mapped[str] = mapped_column(String(320))
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class ProvisioningStep(Base):
    __tablename__ = "crm_provisioning_steps"

    step_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provision_id: Mapped[int] = mapped_column(
        ForeignKey("crm_provisioning_jobs.provision_id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    # 0 success, 1 running, 2 failed (critical), 3 failed (ignored), 4 rolled back
    status: Mapped[int] = mapped_column(Integer)
    output: Mapped[str] = mapped_column(Text, default="")
    started: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class Activity(Base):
    """Who changed what, when, from what to what."""

    __tablename__ = "crm_activity"

    activity_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(320))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))  # create | update | delete | ...
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


# `search` is a case-insensitive prefix match on lower(column): these serve it.
SEARCH_INDEXES = [
    Index(f"ix_{table.__tablename__}_{column}_lower", func.lower(getattr(table, column)))
    for table, column in (
        (Customer, "customer_name"), (Customer, "customer_email"), (Customer, "customer_phone"),
        (Service, "service_name"), (InventoryItem, "itemtext1"), (InventoryItem, "itemtext2"),
    )
]  # fmt: skip
