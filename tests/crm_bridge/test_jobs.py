"""Webhook steps, ignored failures, and a job interrupted by a crash rolled back at start."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from omnigw.config import CrmConfig, WebhookStep
from omnigw.crm.schemas import ProvisionIn
from omnigw.crm_bridge.jobs import Provisioner
from omnigw.crm_bridge.plays import Plays
from tests.crm_bridge.conftest import Bridge

OK, RUNNING, FAILED, IGNORED = 0, 1, 2, 3


class Hooks:
    """A webhook receiver: answers `status`, or holds the request until released."""

    def __init__(self) -> None:
        self.status = 200
        self.hold = False
        self.seen: list[tuple[str, dict[str, Any]]] = []
        self.arrived = asyncio.Event()
        self.server: TestServer | None = None

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append((request.path, await request.json()))
        self.arrived.set()
        if self.hold:
            await asyncio.Event().wait()
        return web.Response(status=self.status)

    def url(self, path: str) -> str:
        assert self.server is not None
        return str(self.server.make_url(path))


@pytest.fixture
async def hooks() -> AsyncIterator[Hooks]:
    receiver = Hooks()
    app = web.Application()
    app.router.add_post("/{name}", receiver.handle)
    receiver.server = TestServer(app)
    await receiver.server.start_server()
    yield receiver
    await receiver.server.close()


def _provisioner(bridge: Bridge, **plays: list[Any]) -> Provisioner:
    return Provisioner(bridge.tools, Plays(CrmConfig(plays=plays)), bridge.index.refresh_service)


async def _product(bridge: Bridge, play: str) -> tuple[int, int]:
    c = await bridge.catalogue()
    await bridge.call("PATCH", f"/crm/product/{c['plan']['product_id']}",
                      {"provisioning_play": play})  # fmt: skip
    return c["plan"]["product_id"], c["customer"]["customer_id"]


async def test_webhook_gets_the_job_variables_and_its_failure_rolls_back(
    bridge: Bridge, hooks: Hooks
) -> None:
    hook = WebhookStep(webhook=hooks.url("/activate"), undo_webhook=hooks.url("/undo"))
    provisioner = _provisioner(bridge, play_hook=["create_service", "allocate_inventory",
                                                  "create_account", hook])  # fmt: skip
    product_id, customer_id = await _product(bridge, "play_hook")
    job = await provisioner.provision(
        "ops", ProvisionIn(product_id=product_id, customer_id=customer_id, wait=True)
    )
    assert job["status"] == OK
    path, sent = hooks.seen[0]
    assert path == "/activate"
    assert sent["product"]["product_slug"] == "sim-plan"
    assert sent["service_uuid"] and sent["customer_id"] == customer_id
    assert sorted(i["itemtext1"] for i in sent["inventory"]) == [
        "61400000000",
        "8944000000000000000",
    ]

    hooks.status = 500
    job = await provisioner.provision(
        "ops", ProvisionIn(product_id=product_id, customer_id=customer_id, wait=True)
    )
    assert job["status"] == FAILED and "HTTP 500" in job["error"]
    assert [s["name"] for s in job["steps"]][-3:] == [
        "undo create_account",
        "undo allocate_inventory",
        "undo create_service",
    ]
    assert [p for p, _ in hooks.seen] == ["/activate", "/activate"]  # a failed step is not undone
    await provisioner.stop(5)


async def test_an_ignored_failure_is_recorded_and_the_play_goes_on(
    bridge: Bridge, hooks: Hooks
) -> None:
    hooks.status = 503
    hook = WebhookStep(webhook=hooks.url("/notify"), ignore_errors=True)
    provisioner = _provisioner(bridge, play_notify=["create_service", hook, "create_account"])
    product_id, customer_id = await _product(bridge, "play_notify")
    job = await provisioner.provision(
        "ops", ProvisionIn(product_id=product_id, customer_id=customer_id, wait=True)
    )
    assert job["status"] == OK
    assert [(s["name"], s["status"]) for s in job["steps"]] == [
        ("create_service", OK),
        ("webhook", IGNORED),
        ("create_account", OK),
    ]
    await provisioner.stop(5)


async def test_a_job_cut_short_by_a_crash_is_rolled_back_at_start(
    bridge: Bridge, hooks: Hooks
) -> None:
    hooks.hold = True
    hook = WebhookStep(webhook=hooks.url("/slow"), timeout_seconds=60)
    play = ["create_service", "allocate_inventory", "create_account", hook]
    crashed = _provisioner(bridge, play_slow=play)
    product_id, customer_id = await _product(bridge, "play_slow")
    job = await crashed.provision(
        "ops", ProvisionIn(product_id=product_id, customer_id=customer_id)
    )
    assert job["status"] == RUNNING
    await asyncio.wait_for(hooks.arrived.wait(), 10)
    for task in list(crashed._tasks):  # the process dies: nothing after this line runs
        task.cancel()
    await asyncio.sleep(0)
    account = (await crashed.get(job["provision_id"]))["context"]["account_created"]
    assert await bridge.accounts.balances(account) is not None

    restarted = _provisioner(bridge, play_slow=play)
    await restarted.start()
    job = await restarted.get(job["provision_id"])
    assert job["status"] == FAILED and "interrupted" in job["error"]
    assert [(s["name"], s["status"]) for s in job["steps"]] == [
        ("create_service", OK), ("allocate_inventory", OK), ("create_account", OK),
        ("webhook", FAILED), ("undo create_account", OK), ("undo allocate_inventory", OK),
        ("undo create_service", OK),
    ]  # fmt: skip
    assert await bridge.accounts.balances(account) is None
    assert await bridge.call("GET", "/crm/service") == []
    assert await bridge.call("GET", "/crm/inventory?item_status=allocated") == []
