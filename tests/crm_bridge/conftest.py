"""The CRM and provisioning routes wired to a charging backend: the strict CGRateS
stand-in (over TCP JSON-RPC) or the embedded one, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from omnigw.api.app import build_app
from omnigw.api.context import ApiContext
from omnigw.config import ApiConfig, CgratesConfig, CrmConfig, Quota, Topup
from omnigw.crm import api as crm_api
from omnigw.crm.service import CrmService
from omnigw.crm_bridge import api as bridge_api
from omnigw.crm_bridge.jobs import Provisioner
from omnigw.crm_bridge.plays import Plays
from omnigw.crm_bridge.steps import Tools
from omnigw.crm_bridge.subscribers import SubscriberIndex
from omnigw.identity.service import IdentityService
from omnigw.ocs.accounts import Accounts, CgratesAccounts
from omnigw.ocs.cgrates import CgratesOcs
from omnigw.ocs.charge import Ocs
from omnigw.ocs.embedded import EmbeddedOcs
from omnigw.store.engine import session_factory
from tests.crm.conftest import Crm, login
from tests.support.cgrates import Cgrates

GB = 1024**3


@dataclass
class Bridge(Crm):
    provisioner: Provisioner
    index: SubscriberIndex
    accounts: Accounts
    cgrates: Cgrates | None
    tools: Tools
    ocs: Ocs

    async def catalogue(self) -> dict[str, Any]:
        """SIM and number templates with stock, a standalone product and an addon."""
        sim = await self.call("PUT", "/crm/inventory/item_template",
                              {"item": "SIM Card", "itemtext1_label": "ICCID",
                               "itemtext2_label": "IMSI"})  # fmt: skip
        number = await self.call("PUT", "/crm/inventory/item_template",
                                 {"item": "Mobile Number",
                                  "itemtext1_label": "E.164 Mobile Number"})  # fmt: skip
        for n in range(2):
            await self.call(
                "PUT",
                "/crm/inventory",
                {
                    "inventory_template_id": sim["inventory_template_id"],
                    "itemtext1": f"894400000000000000{n}",
                    "itemtext2": f"00101000000000{n}",
                },
            )
            await self.call(
                "PUT",
                "/crm/inventory",
                {
                    "inventory_template_id": number["inventory_template_id"],
                    "itemtext1": f"6140000000{n}",
                },
            )
        plan = await self.call(
            "PUT",
            "/crm/product",
            {
                "category": "standalone",
                "provisioning_play": "play_simple_service",
                "retail_cost": 10,
                "product_slug": "sim-plan",
                "product_name": "SIM plan",
                "service_type": "mobile",
                "inventory_items_list": "['SIM Card', 'Mobile Number']",
            },
        )
        addon = await self.call(
            "PUT",
            "/crm/product",
            {
                "category": "addon",
                "provisioning_play": "play_topup_charge_then_action",
                "retail_cost": 30,
                "product_slug": "data-20gb",
                "product_name": "Data 20GB",
                "relies_on_list": "sim-plan",
            },
        )
        customer = await self.call("PUT", "/crm/customer", {"customer_name": "Ada"})
        return {"sim": sim, "number": number, "plan": plan, "addon": addon,
                "customer": customer}  # fmt: skip

    async def provision(self, product: dict[str, Any], customer: dict[str, Any],
                        **more: Any) -> dict[str, Any]:  # fmt: skip
        job: dict[str, Any] = await self.call(
            "PUT",
            "/crm/provision",
            {
                "product_id": product["product_id"],
                "customer_id": customer["customer_id"],
                "wait": True,
                **more,
            },
        )
        return job


@pytest.fixture(params=["cgrates", "embedded"])
async def bridge(
    request: pytest.FixtureRequest,
    identity: IdentityService,
    engine: AsyncEngine,
    tmp_path: Path,
) -> AsyncIterator[Bridge]:
    sessions = session_factory(engine)
    cgrates: Cgrates | None = None
    backend: CgratesOcs | EmbeddedOcs
    accounts: Accounts
    if request.param == "cgrates":
        cgrates = Cgrates()
        cgrates.add_action("Action_sim-plan", "*data", 5 * GB)
        cgrates.add_action("Action_data-20gb", "*data", 20 * GB)
        await cgrates.start()
        backend = CgratesOcs(CgratesConfig(port=cgrates.port), Quota())
        accounts = CgratesAccounts(backend)
    else:
        backend = EmbeddedOcs(sessions, Quota(), tmp_path, actions={
            "Action_sim-plan": Topup(octets=5 * GB),
            "Action_data-20gb": Topup(octets=20 * GB)})  # fmt: skip
        accounts = backend
    await backend.start()
    crm = CrmService(sessions)
    index = SubscriberIndex(CrmConfig(), sessions)
    await index.start()
    crm.listeners.append(index.changed)
    tools = Tools(sessions, accounts, {})
    provisioner = Provisioner(tools, Plays(CrmConfig()), index.refresh_service)
    await provisioner.start()
    app = build_app(ApiContext(identity=identity, settings=ApiConfig()),
                    [crm_api.ROUTES, bridge_api.ROUTES])  # fmt: skip
    app[crm_api.CRM] = crm
    app[bridge_api.PROVISIONER] = provisioner
    app[bridge_api.ACCOUNTS] = accounts
    client = TestClient(TestServer(app))
    await client.start_server()
    admin = await login(identity, "admin@example.com", "admin")
    noc = await login(identity, "noc@example.com", "noc")
    try:
        yield Bridge(client, crm, admin, noc, provisioner, index, accounts, cgrates, tools, backend)
    finally:
        await client.close()
        await provisioner.stop(5)
        await index.close()
        await backend.close()
        if cgrates is not None:
            await cgrates.stop()
