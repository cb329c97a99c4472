"""The /crm resources: conventions, validation naming the field, nothing partial, RBAC."""

from __future__ import annotations

from typing import Any

from tests.crm.conftest import Crm

PRODUCT: dict[str, Any] = {
    "category": "standalone", "provisioning_play": "play_psim_only", "retail_cost": 5,
    "product_slug": "p1", "product_name": "P1",
}  # fmt: skip


async def _counts(crm: Crm) -> tuple[int, int, int]:
    products = await crm.call("GET", "/crm/product")
    templates = await crm.call("GET", "/crm/inventory/item_template")
    log = await crm.call("GET", "/crm/activity")
    return len(products), len(templates), len(log)


async def test_bad_input_names_the_field_and_writes_nothing(crm: Crm) -> None:
    await crm.call("PUT", "/crm/inventory/item_template", {"item": "SIM Card"})
    await crm.call("PUT", "/crm/product", PRODUCT)
    before = await _counts(crm)
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({**PRODUCT, "product_slug": "p2", "colour": "red"}, 400, "colour"),
        ({**PRODUCT, "product_slug": "p2", "retail_cost": "5"}, 400, "retail_cost"),
        ({**PRODUCT, "product_slug": "p2", "enabled": "yes"}, 400, "enabled"),
        ({**PRODUCT, "product_slug": "p2", "category": "gift"}, 400, "category"),
        ({**PRODUCT, "product_slug": "p2", "retail_cost": -1}, 400, "retail_cost"),
        ({**PRODUCT}, 409, "product_slug: 'p1' already exists"),
        ({**PRODUCT, "product_slug": "p2", "relies_on_list": "p1, ghost"}, 400,
         "relies_on_list: unknown 'ghost'"),
        ({**PRODUCT, "product_slug": "p2", "inventory_items_list": "['SIM Card', 'Router']"},
         400, "inventory_items_list: unknown 'Router'"),
        ({**PRODUCT, "product_slug": "p2", "inventory_items_list": "SIM Card"}, 400,
         "inventory_items_list"),
        ({**PRODUCT, "product_slug": "p2", "provisioning_json_vars": "{iccid}"}, 400,
         "provisioning_json_vars"),
        ({**PRODUCT, "product_slug": "p2", "provisioning_json_vars": "[1]"}, 400,
         "provisioning_json_vars"),
        ({**PRODUCT, "product_slug": "bad slug"}, 400, "product_slug"),
        ({k: v for k, v in PRODUCT.items() if k != "product_name"} | {"product_slug": "p2"},
         400, "product_name"),
    ]  # fmt: skip
    for body, status, reason in cases:
        answer = await crm.call("PUT", "/crm/product", body, status=status)
        assert reason in answer["reason"], (body, answer)
    # Updates are checked the same way, and the id in the body must be the URL's.
    pid = (await crm.call("GET", "/crm/product"))[0]["product_id"]
    await crm.call("PATCH", f"/crm/product/{pid}", {"product_id": pid + 1}, status=400)
    await crm.call("PATCH", f"/crm/product/{pid}", {"product_name": None}, status=400)
    await crm.call("PATCH", f"/crm/product/{pid}", {"relies_on_list": "p1"}, status=400)
    await crm.call("PATCH", f"/crm/product/{pid + 5}", {"product_name": "x"}, status=404)
    await crm.call("PUT", "/crm/inventory/item_template", {"item": "SIM Card"}, status=409)
    answer = await crm.call("GET", "/crm/product?colour=red", status=400)
    assert "colour" in answer["reason"]
    assert await _counts(crm) == before


async def test_references_deletes_and_paging(crm: Crm) -> None:
    customer = await crm.call("PUT", "/crm/customer",
                              {"customer_name": "Acme", "customer_type": "business"})  # fmt: skip
    cid = customer["customer_id"]
    await crm.call("PUT", "/crm/contact", {"customer_id": cid + 1, "contact_type": "billing",
                                           "contact_firstname": "Bo"}, status=400)  # fmt: skip
    contact = await crm.call("PUT", "/crm/contact", {"customer_id": cid,
                             "contact_type": "billing", "contact_firstname": "Bo"})  # fmt: skip
    await crm.call("PUT", "/crm/site", {"customer_id": cid, "site_name": "HQ",
                   "address_line_1": "1 Main St", "latitude": 91}, status=400)  # fmt: skip
    site = await crm.call("PUT", "/crm/site", {"customer_id": cid, "site_name": "HQ",
                          "address_line_1": "1 Main St", "latitude": -33.9})  # fmt: skip
    assert site["latitude"] == -33.9
    template = await crm.call("PUT", "/crm/inventory/item_template", {"item": "Router"})
    item = await crm.call(
        "PUT",
        "/crm/inventory",
        {"inventory_template_id": template["inventory_template_id"], "itemtext1": "SN1"},
    )
    await crm.call("PUT", "/crm/inventory", {
        "inventory_template_id": template["inventory_template_id"], "itemtext1": "SN1"},
        status=409)  # fmt: skip
    answer = await crm.call(
        "DELETE", f"/crm/inventory/item_template/{template['inventory_template_id']}", status=409
    )
    assert "used by 1 inventory items" in answer["reason"]
    await crm.call("PATCH", f"/crm/inventory/{item['inventory_id']}",
                   {"inventory_template_id": 99}, status=400)  # fmt: skip
    await crm.call("DELETE", f"/crm/inventory/{item['inventory_id']}")
    await crm.call("DELETE", f"/crm/contact/{contact['contact_id']}")

    for n in range(5):
        await crm.call("PUT", "/crm/customer", {"customer_name": f"Person {n}"})
    response = await crm.client.get(
        "/crm/customer?search=person&per_page=2&page=2&sort=customer_name&order=desc",
        headers=crm.headers,
    )
    page = await response.json()
    assert response.headers["X-Total-Count"] == "5"
    assert [c["customer_name"] for c in page] == ["Person 2", "Person 1"]
    found = await crm.call("GET", "/crm/customer?customer_type=business")
    assert [c["customer_name"] for c in found] == ["Acme"]
    await crm.call("GET", "/crm/customer?per_page=0", status=400)
    await crm.call("GET", "/crm/customer?sort=password", status=400)

    log = await crm.call("GET", f"/crm/activity?entity=contact&entity_id={contact['contact_id']}")
    assert [e["action"] for e in log] == ["delete", "create"]
    assert log[0]["before"]["contact_firstname"] == "Bo" and log[0]["after"] is None


async def test_roles_limit_who_reads_and_writes(crm: Crm) -> None:
    await crm.call("PUT", "/crm/customer", {"customer_name": "X"}, status=403, headers=crm.noc)
    assert await crm.call("GET", "/crm/customer", headers=crm.noc) == []
    await crm.call("GET", "/crm/customer", status=401, headers={})
    document = await crm.call("GET", "/docs/openapi.json")
    for path in ("/crm/product", "/crm/product/{id}", "/crm/inventory/item_template",
                 "/crm/customer", "/crm/contact", "/crm/site", "/crm/service",
                 "/crm/inventory", "/crm/activity"):  # fmt: skip
        assert path in document["paths"], path
    assert document["paths"]["/crm/product"]["put"]["x-permission"] == "crm:write"
