"""Request bodies of the /crm API, with OmniCRM's field names, types and validation.

Bodies are strict: unknown fields and wrong JSON types are 400s naming the field.
OmniCRM keeps some lists as strings (`"['SIM Card', 'Mobile Number']"`,
`"a,b"`) and `provisioning_json_vars` as a JSON string; they stay strings here so
a client reads back what it wrote, but must parse.
"""

from __future__ import annotations

import ast
import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator
from pydantic.fields import FieldInfo

EMAIL = r"^[^@\s]+@[^@\s]+$"
SLUG = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
Cost = Annotated[float, Field(ge=0, le=1e9)]
Text = Annotated[str, Field(max_length=10_000)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Label = Annotated[str, Field(max_length=100)]
Phone = Annotated[str, Field(pattern=r"^\+?[0-9 ()-]{3,31}$")]
Email = Annotated[str, Field(pattern=EMAIL, max_length=320)]
Date = Annotated[datetime, Field(strict=False)]  # ISO 8601 text in JSON


class CrmBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def python_list(text: str) -> list[str]:
    """OmniCRM's list-in-a-string: a Python (or JSON) list literal of strings, or empty."""
    if not text.strip():
        return []
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise ValueError("must be a list literal such as \"['a', 'b']\"") from None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("must be a list of strings")
    return value


def comma_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


class InventoryTemplateIn(CrmBody):
    item: Annotated[str, Field(min_length=1, max_length=100)]
    itemtext1_label: Label = ""
    itemtext2_label: Label = ""
    wholesale_cost: Cost = 0
    retail_cost: Cost = 0
    allow_dropdown_staff: bool = False
    allow_dropdown_customer: bool = False
    icon: Label = ""


class ProductIn(CrmBody):
    """Every field of the seed's product guide."""

    category: Literal["standalone", "addon", "bundle"]
    provisioning_play: Annotated[str, Field(min_length=1, max_length=200)]
    relies_on_list: Text = ""
    contract_days: Annotated[int, Field(ge=0, le=36_500)] = 0
    retail_cost: Cost
    retail_setup_cost: Cost = 0
    product_slug: Annotated[str, Field(pattern=SLUG)]
    product_name: Name
    comment: Text = ""
    provisioning_json_vars: Text = ""
    terms: Text = ""
    service_type: Annotated[str, Field(max_length=50)] = ""
    residential: bool = True
    business: bool = True
    enabled: bool = True
    inventory_items_list: Text = ""
    icon: Label = ""
    features_list: Text = ""
    wholesale_cost: Cost = 0
    wholesale_setup_cost: Cost = 0
    auto_renew: Literal["True", "False"] = "False"
    customer_can_purchase: bool = False

    @field_validator("auto_renew", mode="before")
    @classmethod
    def _auto_renew(cls, value: Any) -> Any:
        return str(value) if isinstance(value, bool) else value

    @field_validator("inventory_items_list", "features_list")
    @classmethod
    def _python_list(cls, value: str | None) -> str | None:
        if value is not None:
            python_list(value)
        return value

    @field_validator("provisioning_json_vars")
    @classmethod
    def _json_vars(cls, value: str | None) -> str | None:
        if value is not None and value.strip():
            try:
                parsed = json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not valid JSON ({exc.msg})") from None
            if not isinstance(parsed, dict):
                raise ValueError("must be a JSON object")
        return value


class CustomerIn(CrmBody):
    customer_name: Name
    customer_type: Literal["individual", "business"] = "individual"
    customer_status: Literal["active", "suspended", "closed"] = "active"
    customer_email: Email | None = None
    customer_phone: Phone | None = None
    comment: Text | None = None


class ContactIn(CrmBody):
    customer_id: int
    contact_type: Literal["primary", "billing", "technical", "sales", "emergency", "other"]
    contact_firstname: Annotated[str, Field(min_length=1, max_length=100)]
    contact_lastname: Annotated[str, Field(max_length=100)] | None = None
    contact_email: Email | None = None
    contact_phone: Phone | None = None


class SiteIn(CrmBody):
    customer_id: int
    site_name: Name
    address_line_1: Annotated[str, Field(min_length=1, max_length=300)]
    address_line_2: Annotated[str, Field(max_length=300)] | None = None
    city: Label | None = None
    state: Label | None = None
    postcode: Annotated[str, Field(max_length=20)] | None = None
    country: Label | None = None
    latitude: Annotated[float, Field(ge=-90, le=90)] | None = None
    longitude: Annotated[float, Field(ge=-180, le=180)] | None = None


class InventoryItemIn(CrmBody):
    inventory_template_id: int
    itemtext1: Annotated[str, Field(min_length=1, max_length=100)]
    itemtext2: Label = ""
    item_status: Literal["available", "retired"] = "available"  # allocation is provisioning's


class ServicePatch(CrmBody):
    """Services are made by provisioning; a status change runs the suspend/resume play."""

    service_id: int | None = None
    service_name: Name | None = None
    site_id: int | None = None
    service_status: Literal["active", "suspended"] | None = None
    service_end_date: Date | None = None


class ProvisionIn(CrmBody):
    product_id: int
    customer_id: int
    service_id: int | None = Field(default=None, description="The service an addon applies to")
    site_id: int | None = None
    service_name: Name | None = None
    inventory_ids: list[int] = Field(
        default_factory=list, description="Chosen inventory items; else the first available"
    )
    wait: bool = Field(default=False, description="Answer when the job has finished")


def partial(model: type[CrmBody], id_field: str) -> type[CrmBody]:
    """The PATCH body of `model`: every field optional, plus the row's own id (OmniCRM sends it)."""
    fields: dict[str, Any] = {id_field: (int | None, None)}
    for name, info in model.model_fields.items():
        optional = FieldInfo.merge_field_infos(info, default=None)
        kind: Any = info.annotation
        fields[name] = (kind | None, optional)
    made: type[CrmBody] = create_model(
        model.__name__.removesuffix("In") + "Patch", __base__=model, **fields
    )
    return made
