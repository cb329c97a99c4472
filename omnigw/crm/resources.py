"""What each CRM entity is: its table, bodies, filters, uniqueness and references.

The CRUD service and the /crm routes are generic over these declarations, so
every entity gets the same conventions (PUT create, PATCH update, list with
pagination and filters, activity log) and the same error wording.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from omnigw.crm.models import (
    Contact,
    Customer,
    InventoryItem,
    InventoryTemplate,
    Product,
    Service,
    Site,
)
from omnigw.crm.schemas import (
    ContactIn,
    CrmBody,
    CustomerIn,
    InventoryItemIn,
    InventoryTemplateIn,
    ProductIn,
    ServicePatch,
    SiteIn,
    comma_list,
    partial,
    python_list,
)
from omnigw.errors import Conflict, Invalid
from omnigw.store.base import Base

# Checks run inside the write's transaction with the row before and after the change
# (None before a create, None after a delete).
Check = Callable[[AsyncSession, dict[str, Any] | None, dict[str, Any] | None], Awaitable[None]]


@dataclass(frozen=True)
class Reference:
    field: str
    table: type[Base]
    key: str
    what: str


@dataclass(frozen=True)
class InUse:
    """Rows elsewhere that pin this one: deleting it is a 409 naming them."""

    table: type[Base]
    column: str
    what: str


@dataclass(frozen=True)
class Resource:
    name: str  # singular, as in the URL and the activity log
    path: str
    table: type[Base]
    id_field: str
    body: type[CrmBody] | None  # None: not created through its own PUT
    patch: type[CrmBody]
    filters: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    unique: tuple[str, ...] = ()
    references: tuple[Reference, ...] = ()
    checks: tuple[Check, ...] = ()
    in_use: tuple[InUse, ...] = ()
    deletable: bool = True
    immutable: frozenset[str] = field(default_factory=frozenset)


async def _names_exist(
    session: AsyncSession, table: type[Base], column: str, names: list[str], field_name: str
) -> None:
    if not names:
        return
    col = getattr(table, column)
    found = set((await session.execute(select(col).where(col.in_(names)))).scalars())
    missing = [n for n in names if n not in found]
    if missing:
        raise Invalid(f"{field_name}: unknown {', '.join(repr(m) for m in missing)}")


async def _product_lists(
    session: AsyncSession, before: dict[str, Any] | None, values: dict[str, Any] | None
) -> None:
    if values is None:
        return
    relies = comma_list(values.get("relies_on_list") or "")
    if values.get("product_slug") in relies:
        raise Invalid("relies_on_list: a product cannot rely on itself")
    await _names_exist(session, Product, "product_slug", relies, "relies_on_list")
    templates = python_list(values.get("inventory_items_list") or "")
    await _names_exist(session, InventoryTemplate, "item", templates, "inventory_items_list")


async def _site_of_customer(
    session: AsyncSession, before: dict[str, Any] | None, values: dict[str, Any] | None
) -> None:
    site_id = values.get("site_id") if values else None
    if site_id is None:
        return
    owner = await session.scalar(select(Site.customer_id).where(Site.site_id == site_id))
    assert values is not None
    if owner != values["customer_id"]:
        raise Invalid(
            f"site_id: site {site_id} does not belong to customer {values['customer_id']}"
        )


async def _item_not_allocated(
    session: AsyncSession, before: dict[str, Any] | None, values: dict[str, Any] | None
) -> None:
    """Allocation belongs to provisioning: an allocated item is not edited or deleted by hand."""
    if before is not None and before["item_status"] == "allocated":
        raise Conflict(
            f"inventory item {before['inventory_id']} is allocated to service "
            f"{before['service_id']}; deprovision the service to release it"
        )


def _make(
    name: str,
    path: str,
    table: type[Base],
    id_field: str,
    body: type[CrmBody],
    **more: Any,
) -> Resource:
    return Resource(name, path, table, id_field, body, partial(body, id_field), **more)


def _customer_ref(what: str = "customer") -> Reference:
    return Reference("customer_id", Customer, "customer_id", what)


INVENTORY_TEMPLATE = _make(
    "inventory_template", "/crm/inventory/item_template", InventoryTemplate,
    "inventory_template_id", InventoryTemplateIn,
    filters=("item",), search=("item",), unique=("item",),
    in_use=(InUse(InventoryItem, "inventory_template_id", "inventory items"),),
)  # fmt: skip
PRODUCT = _make(
    "product", "/crm/product", Product, "product_id", ProductIn,
    filters=("category", "enabled", "product_slug", "service_type", "provisioning_play"),
    search=("product_name", "product_slug"), unique=("product_slug",),
    checks=(_product_lists,), in_use=(InUse(Service, "product_id", "services"),),
)  # fmt: skip
CUSTOMER = _make(
    "customer", "/crm/customer", Customer, "customer_id", CustomerIn,
    filters=("customer_status", "customer_type", "customer_email"),
    search=("customer_name", "customer_email", "customer_phone"),
    in_use=(InUse(Service, "customer_id", "services"),),
)  # fmt: skip
CONTACT = _make(
    "contact", "/crm/contact", Contact, "contact_id", ContactIn,
    filters=("customer_id", "contact_type"),
    search=("contact_firstname", "contact_lastname", "contact_email", "contact_phone"),
    references=(_customer_ref(),),
)  # fmt: skip
SITE = _make(
    "site", "/crm/site", Site, "site_id", SiteIn,
    filters=("customer_id", "postcode", "country"), search=("site_name", "city", "postcode"),
    references=(_customer_ref(),), in_use=(InUse(Service, "site_id", "services"),),
)  # fmt: skip
INVENTORY_ITEM = _make(
    "inventory_item", "/crm/inventory", InventoryItem, "inventory_id", InventoryItemIn,
    filters=("inventory_template_id", "item_status", "service_id", "itemtext1", "itemtext2"),
    search=("itemtext1", "itemtext2"),
    references=(Reference("inventory_template_id", InventoryTemplate, "inventory_template_id",
                          "inventory template"),),
    checks=(_item_not_allocated,), immutable=frozenset({"inventory_template_id"}),
)  # fmt: skip
SERVICE = Resource(
    "service", "/crm/service", Service, "service_id", None, ServicePatch,
    filters=("customer_id", "product_id", "service_status", "service_uuid", "site_id"),
    search=("service_name", "service_uuid"),
    references=(Reference("site_id", Site, "site_id", "site"),),
    checks=(_site_of_customer,), deletable=False,
)  # fmt: skip

RESOURCES = (INVENTORY_TEMPLATE, PRODUCT, CUSTOMER, CONTACT, SITE, INVENTORY_ITEM, SERVICE)


async def count(session: AsyncSession, table: type[Base], column: str, value: Any) -> int:
    col = getattr(table, column)
    return int(await session.scalar(select(func.count()).where(col == value)) or 0)
