"""Provisioning plays against the charging backend: happy paths, failures and rollback."""

from __future__ import annotations

from typing import Any

import pytest

from omnigw.crm_bridge.subscribers import E164, IMSI
from omnigw.ocs.charge import OcsError, Outcome
from tests.crm_bridge.conftest import GB, Bridge

OK, FAILED = 0, 2


def _steps(job: dict[str, Any]) -> list[tuple[str, int]]:
    return [(s["name"], s["status"]) for s in job["steps"]]


async def test_standalone_product_makes_service_account_and_balances(bridge: Bridge) -> None:
    c = await bridge.catalogue()
    job = await bridge.provision(c["plan"], c["customer"], service_name="Ada's phone")
    assert job["status"] == OK, job
    assert _steps(job) == [("create_service", OK), ("allocate_inventory", OK),
                           ("create_account", OK), ("execute_action", OK)]  # fmt: skip
    service = await bridge.call("GET", f"/crm/service/{job['service_id']}")
    assert (service["service_status"], service["service_name"]) == ("active", "Ada's phone")
    items = await bridge.call("GET", f"/crm/inventory?service_id={service['service_id']}")
    assert sorted(i["itemtext1"] for i in items) == ["61400000000", "8944000000000000000"]
    assert {i["item_status"] for i in items} == {"allocated"}

    balance = await bridge.call("GET", f"/crm/service/{service['service_id']}/balance")
    assert balance["balances"]["octets"] == 5 * GB
    # The charging edge now finds the account by IMSI and by MSISDN (with or without +).
    account = service["service_uuid"]
    assert bridge.index.resolve([(IMSI, "001010000000000")]) == account
    assert bridge.index.resolve([(E164, "+61400000000")]) == account
    if bridge.cgrates is not None:
        calls = bridge.cgrates.state.calls
        assert (calls["APIerSv2.SetAccount"], calls["APIerSv1.ExecuteAction"]) == (1, 1)

    addon = await bridge.provision(c["addon"], c["customer"], service_id=service["service_id"])
    assert addon["status"] == OK, addon
    assert _steps(addon) == [("require_service", OK), ("execute_action", OK)]
    balance = await bridge.call("GET", f"/crm/service/{service['service_id']}/balance")
    assert balance["balances"]["octets"] == 25 * GB


async def test_missing_action_fails_the_job_and_rolls_everything_back(bridge: Bridge) -> None:
    c = await bridge.catalogue()
    product = await bridge.call("PUT", "/crm/product", {
        "category": "standalone", "provisioning_play": "play_simple_service",
        "retail_cost": 1, "product_slug": "no-such-action", "product_name": "Broken",
        "inventory_items_list": "['SIM Card']"})  # fmt: skip
    job = await bridge.provision(product, c["customer"])
    assert job["status"] == FAILED
    assert "Action_no-such-action not found" in job["error"]
    assert _steps(job) == [
        ("create_service", OK), ("allocate_inventory", OK), ("create_account", OK),
        ("execute_action", FAILED), ("undo create_account", OK),
        ("undo allocate_inventory", OK), ("undo create_service", OK),
    ]  # fmt: skip
    assert await bridge.call("GET", "/crm/service") == []  # not left half-made
    items = await bridge.call("GET", "/crm/inventory?item_status=allocated")
    assert items == []
    assert job["context"]["account_created"]
    assert await bridge.accounts.balances(job["context"]["account_created"]) is None
    if bridge.cgrates is not None:
        assert bridge.cgrates.state.calls["APIerSv1.RemoveAccount"] == 1


async def test_no_stock_fails_before_any_account_is_made(bridge: Bridge) -> None:
    c = await bridge.catalogue()
    for _ in range(2):
        assert (await bridge.provision(c["plan"], c["customer"]))["status"] == OK
    job = await bridge.provision(c["plan"], c["customer"])
    assert job["status"] == FAILED
    assert "no available 'SIM Card' item in inventory" in job["error"]
    # The failing step allocated nothing (one transaction); only the service is undone.
    assert _steps(job)[-2:] == [("allocate_inventory", FAILED), ("undo create_service", OK)]
    services = await bridge.call("GET", "/crm/service")
    assert len(services) == 2
    if bridge.cgrates is not None:
        assert bridge.cgrates.state.calls["APIerSv2.SetAccount"] == 2


async def test_chosen_inventory_is_used_and_must_be_available(bridge: Bridge) -> None:
    c = await bridge.catalogue()
    [second_sim] = await bridge.call("GET", "/crm/inventory?itemtext2=001010000000001")
    job = await bridge.provision(c["plan"], c["customer"],
                                 inventory_ids=[second_sim["inventory_id"]])  # fmt: skip
    assert job["status"] == OK
    again = await bridge.provision(c["plan"], c["customer"],
                                   inventory_ids=[second_sim["inventory_id"]])  # fmt: skip
    assert again["status"] == FAILED
    assert f"no available item {second_sim['inventory_id']}" in again["error"]


async def test_suspend_resume_and_deprovision(bridge: Bridge) -> None:
    c = await bridge.catalogue()
    job = await bridge.provision(c["plan"], c["customer"])
    sid = job["service_id"]
    service = await bridge.call("PATCH", f"/crm/service/{sid}", {"service_status": "suspended"})
    assert service["service_status"] == "suspended"
    with pytest.raises(OcsError) as barred:
        bridge.index.resolve([(IMSI, "001010000000000")])
    assert barred.value.outcome is Outcome.ACCOUNT_DISABLED
    if bridge.cgrates is not None:
        assert service["service_uuid"] in bridge.cgrates.state.disabled
    # An addon is refused on a suspended service; the NOC may not change status at all.
    addon = await bridge.provision(c["addon"], c["customer"], service_id=sid)
    assert addon["status"] == FAILED and "suspended" in addon["error"]
    await bridge.call("PATCH", f"/crm/service/{sid}", {"service_status": "active"},
                      status=403, headers=bridge.noc)  # fmt: skip

    both = {"service_status": "active", "service_name": "renamed"}
    service = await bridge.call("PATCH", f"/crm/service/{sid}", both)
    assert (service["service_status"], service["service_name"]) == ("active", "renamed")
    assert bridge.index.resolve([(IMSI, "001010000000000")]) == service["service_uuid"]

    ended = await bridge.call("DELETE", f"/crm/service/{sid}")
    assert ended["service_status"] == "inactive" and ended["service_end_date"]
    assert await bridge.accounts.balances(service["service_uuid"]) is None
    assert await bridge.call("GET", "/crm/inventory?item_status=allocated") == []
    assert bridge.index.resolve([(IMSI, "001010000000000")]) is None
    await bridge.call("DELETE", f"/crm/service/{sid}", status=409)
    jobs = await bridge.call("GET", f"/crm/provision?service_id={sid}")
    # Newest first; the third is the addon refused while the service was suspended.
    assert [(j["operation"], j["status"]) for j in jobs] == [
        ("deprovision", OK), ("resume", OK), ("provision", FAILED), ("suspend", OK),
        ("provision", OK),
    ]  # fmt: skip


async def test_a_failed_suspend_is_a_502_and_changes_nothing(bridge: Bridge) -> None:
    c = await bridge.catalogue()
    job = await bridge.provision(c["plan"], c["customer"])
    service = await bridge.call("GET", f"/crm/service/{job['service_id']}")
    await bridge.accounts.remove(service["service_uuid"])  # removed behind the CRM's back
    failed = await bridge.call("PATCH", f"/crm/service/{job['service_id']}",
                               {"service_status": "suspended"}, status=502)  # fmt: skip
    assert "rolled back" in failed["reason"]
    after = await bridge.call("GET", f"/crm/service/{job['service_id']}")
    assert after["service_status"] == "active"


async def test_provision_requests_are_checked_before_a_job_starts(bridge: Bridge) -> None:
    c = await bridge.catalogue()
    cid = c["customer"]["customer_id"]
    bad = [
        ({"product_id": 999, "customer_id": cid}, "product_id: no product 999"),
        ({"product_id": c["plan"]["product_id"], "customer_id": 999}, "customer_id"),
        ({"product_id": c["addon"]["product_id"], "customer_id": cid}, "service_id"),
        ({"product_id": c["plan"]["product_id"], "customer_id": cid, "extra": 1}, "extra"),
    ]
    for body, reason in bad:
        answer = await bridge.call("PUT", "/crm/provision", body, status=400)
        assert reason in answer["reason"]
    await bridge.call("PATCH", f"/crm/product/{c['plan']['product_id']}",
                      {"provisioning_play": "play_nobody_wrote"})  # fmt: skip
    answer = await bridge.call("PUT", "/crm/provision",
                               {"product_id": c["plan"]["product_id"], "customer_id": cid},
                               status=400)  # fmt: skip
    assert "play_nobody_wrote" in answer["reason"] and "play_psim_only" in answer["reason"]
    await bridge.call("PUT", "/crm/provision",
                      {"product_id": c["plan"]["product_id"], "customer_id": cid},
                      status=403, headers=bridge.noc)  # fmt: skip
    assert await bridge.call("GET", "/crm/provision") == []
