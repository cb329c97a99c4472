"""OmniCRM's own product-definition script runs unchanged against omnigw, twice."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

from tests.crm.conftest import PASSWORD, Crm

SCRIPT = Path(__file__).with_name("omnicrm_seed.py").read_text()


def _pointed_at(base: str) -> str:
    """The script with only its URL and credentials changed."""
    text = SCRIPT.replace("crm_url = 'https://crm.example.com/'", f"crm_url = '{base}/'")
    text = text.replace('"password": "your_password"', f'"password": "{PASSWORD}"')
    assert text.count(base) == 1 and PASSWORD in text
    return text


async def _run(script: Path) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(script), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode()
    return out.decode()


async def test_seed_script_creates_then_updates(crm: Crm, tmp_path: Path) -> None:
    script = tmp_path / "seed.py"
    script.write_text(_pointed_at(str(crm.client.make_url("")).rstrip("/")))

    first = await _run(script)
    assert first.count("Plantilla de inventario creada") == 2
    assert first.count("Producto creado") == 3

    second = await _run(script)
    assert second.count("Plantilla de inventario actualizada") == 2
    assert second.count("Producto actualizado") == 3
    assert "creado" not in second

    templates = await crm.call("GET", "/crm/inventory/item_template")
    assert sorted(t["item"] for t in templates) == ["Mobile Number", "SIM Card"]
    products = {p["product_slug"]: p for p in await crm.call("GET", "/crm/product")}
    assert sorted(products) == ["Mobile-SIM", "au-data-addon-20gb", "au-premium-plan-1"]
    sim = products["Mobile-SIM"]
    assert sim["inventory_items_list"] == "['SIM Card', 'Mobile Number']"
    assert sim["provisioning_json_vars"] == '{"iccid" : "", "msisdn" : ""}'
    assert (sim["wholesale_setup_cost"], sim["auto_renew"]) == (1, "False")
    assert products["au-premium-plan-1"]["retail_cost"] == 59.0

    log = await crm.call("GET", "/crm/activity?entity=product")
    actions = sorted(entry["action"] for entry in log)
    assert actions == ["create"] * 3 + ["update"] * 3
    assert all(entry["actor"] == "admin@example.com" for entry in log)
    assert re.search(r"Estado: 200", second)
