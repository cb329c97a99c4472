"""A real Ansible playbook as a play step, calling the CGRateS stand-in over HTTP."""

from __future__ import annotations

import dataclasses
import shutil
import sys
from pathlib import Path

import pytest

from omnigw.config import AnsibleStep, CrmConfig
from omnigw.crm.schemas import ProvisionIn
from omnigw.crm_bridge.jobs import Provisioner
from omnigw.crm_bridge.plays import Plays
from tests.crm_bridge.conftest import GB, Bridge

PLAYBOOK = Path(__file__).with_name("playbooks") / "play_account_then_action.yaml"
OK, FAILED = 0, 2


def _ansible_installed() -> bool:
    beside = Path(sys.executable).with_name("ansible-playbook")
    return beside.exists() or shutil.which("ansible-playbook") is not None


@pytest.mark.skipif(not _ansible_installed(), reason="peer unavailable: omnigw[ansible]")
@pytest.mark.parametrize("bridge", ["cgrates"], indirect=True)  # it calls CGRateS's HTTP API
async def test_playbook_creates_account_and_rescues_itself(bridge: Bridge) -> None:
    assert bridge.cgrates is not None
    tools = dataclasses.replace(
        bridge.tools,
        ansible_vars={
            "crm_config": {
                "ocs": {
                    "cgrates": f"127.0.0.1:{bridge.cgrates.http_port}",
                    "ocsTenant": "cgrates.org",
                }
            }
        },
    )
    play = ["create_service", "allocate_inventory", AnsibleStep(ansible=PLAYBOOK)]
    provisioner = Provisioner(tools, Plays(CrmConfig(plays={"play_ansible": play})),
                              bridge.index.refresh_service)  # fmt: skip
    c = await bridge.catalogue()
    await bridge.call("PATCH", f"/crm/product/{c['plan']['product_id']}",
                      {"provisioning_play": "play_ansible"})  # fmt: skip
    request = ProvisionIn(product_id=c["plan"]["product_id"],
                          customer_id=c["customer"]["customer_id"], wait=True)  # fmt: skip

    job = await provisioner.provision("ops", request)
    assert job["status"] == OK, job
    assert "failed=0" in job["steps"][-1]["output"]
    service = await bridge.call("GET", f"/crm/service/{job['service_id']}")
    assert bridge.cgrates.state.accounts[service["service_uuid"]] == {"*data": 5 * GB}

    del bridge.cgrates.state.actions["Action_sim-plan"]  # the playbook's action is missing
    job = await provisioner.provision("ops", request)
    assert job["status"] == FAILED
    assert "Action_sim-plan failed and was undone" in job["error"]
    assert [s["name"] for s in job["steps"]][-2:] == ["undo allocate_inventory",
                                                     "undo create_service"]  # fmt: skip
    accounts = bridge.cgrates.state.accounts
    assert len(accounts) == 1  # the rescue removed the second account
    assert bridge.cgrates.state.calls["APIerSv1.RemoveAccount"] == 1
    assert len(await bridge.call("GET", "/crm/service")) == 1
    await provisioner.stop(5)
