"""Alert intake over HTTP: native API and ECBE, validation, RBAC, status."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from omnigw.api.app import build_app
from omnigw.api.context import ApiContext
from omnigw.cbc import api as cbc_api
from omnigw.cbc import intake as cbc_intake
from omnigw.cbc.areas import Areas
from omnigw.cbc.service import CbcService
from omnigw.config import ApiConfig, CbcConfig
from omnigw.identity.service import IdentityService
from omnigw.store.engine import session_factory
from tests.support.api import PASSWORD, sqlite_store_url
from tests.support.ports import free_port

store_url = pytest.fixture(sqlite_store_url)

CBC = CbcConfig.model_validate(
    {
        "cbsp": {"port": 1},
        "cells": [{"cgi": "901-70-23-1", "lat": 41.39, "lon": 2.17},
                  {"cgi": "901-70-23-2", "lat": 45.0, "lon": 7.0}],
        "areas": {"coast": ["901-70-23-1"]},
    }
)  # fmt: skip


@pytest.fixture
async def client(identity: IdentityService, engine: AsyncEngine) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    cfg = CBC.model_copy(update={"cbsp": CBC.cbsp.model_copy(update={"port": free_port()})})
    service = CbcService(cfg, session_factory(engine))
    await service.start()
    app = build_app(ApiContext(identity=identity, settings=ApiConfig()), [cbc_api.ROUTES])
    app[cbc_intake.SERVICE] = service
    app[cbc_intake.AREAS] = Areas(cfg)
    app[cbc_intake.SESSIONS] = session_factory(engine)
    test_client = TestClient(TestServer(app))
    await test_client.start_server()
    tokens = {}
    for role in ("alerting", "noc", "crm", "admin"):
        await identity.create_user(f"{role}@x.org", PASSWORD, [role])
        tokens[role] = (await identity.login(f"{role}@x.org", PASSWORD, None, "t")).token
    test_client.tokens = tokens  # type: ignore[attr-defined]
    yield test_client
    await test_client.close()
    await service.stop()


def _auth(client: TestClient, role: str) -> dict[str, str]:  # type: ignore[type-arg]
    return {"Authorization": f"Bearer {client.tokens[role]}"}  # type: ignore[attr-defined]


ALERT: dict[str, Any] = {
    "class": "extreme",
    "certainty": "Likely",
    "texts": [{"language": "en", "text": "Flash flood"}, {"language": "es", "text": "Inundación"}],
    "target": {"areas": ["coast"]},
    "duration_seconds": 3600,
}


async def test_create_get_list_update_cancel(client: TestClient) -> None:  # type: ignore[type-arg]
    resp = await client.post("/api/v1/alerts", json=ALERT, headers=_auth(client, "alerting"))
    assert resp.status == 201, await resp.text()
    alert = await resp.json()
    assert [m["message_id"] for m in alert["messages"]] == [4372, 4385]
    assert alert["expires_at"] and alert["state"] == "active"
    alert_id = alert["id"]
    got = await (
        await client.get(f"/api/v1/alerts/{alert_id}", headers=_auth(client, "noc"))
    ).json()
    assert got["history"][0]["what"] == "accepted"
    listing = await (
        await client.get("/api/v1/alerts?state=active", headers=_auth(client, "noc"))
    ).json()
    assert listing["total"] == 1 and listing["data"][0]["id"] == alert_id
    resp = await client.patch(
        f"/api/v1/alerts/{alert_id}",
        json={
            "texts": [
                {"language": "es", "text": "Inundación, actualización"},
                {"language": "en", "text": "Flash flood, update"},
            ]
        },  # by language
        headers=_auth(client, "alerting"),
    )
    updated = await resp.json()
    assert resp.status == 200
    assert [m["update_number"] for m in updated["messages"]] == [1, 1]
    assert [m["message_code"] for m in updated["messages"]] == [
        m["message_code"] for m in alert["messages"]
    ]
    got = await (
        await client.get(f"/api/v1/alerts/{alert_id}", headers=_auth(client, "noc"))
    ).json()
    assert [m["text"] for m in got["messages"]] == [
        "Flash flood, update",
        "Inundación, actualización",
    ]
    resp = await client.patch(f"/api/v1/alerts/{alert_id}", json={"texts": [{"text": "which?"}]},
                              headers=_auth(client, "alerting"))  # fmt: skip
    assert resp.status == 400 and "language" in (await resp.json())["reason"]
    resp = await client.delete(f"/api/v1/alerts/{alert_id}", headers=_auth(client, "alerting"))
    assert resp.status == 200 and (await resp.json())["state"] == "cancelled"
    resp = await client.delete(f"/api/v1/alerts/{alert_id}", headers=_auth(client, "alerting"))
    assert resp.status == 409


async def test_new_alerts_never_reuse_a_live_message_code(client: TestClient) -> None:  # type: ignore[type-arg]
    codes = set()
    for _ in range(3):
        resp = await client.post("/api/v1/alerts", json=ALERT, headers=_auth(client, "alerting"))
        codes.add((await resp.json())["messages"][0]["message_code"])
    assert len(codes) == 3


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"class": "loud"}, "class"),
        ({"target": {}}, "exactly one of plmn"),
        ({"target": {"cells": ["901-70-x-1"]}}, "not a CGI"),
        ({"target": {"areas": ["nowhere"]}}, "not a configured area"),
        ({"target": {"polygon": [[0, 0], [0, 1], [1, 1]]}}, "covers no cell"),
        ({"texts": [{"text": "x" * 1396}]}, "at most 15"),
        ({"texts": [{"language": "english", "text": "x"}]}, "language"),
        ({"texts": []}, "texts"),
        ({"message_id": 4370}, "exactly one of class, message_id"),
        ({"colour": "red"}, "colour: Extra inputs"),
    ],
)
async def test_invalid_alerts_are_refused_with_the_field(
    client: TestClient,
    change: dict[str, Any],
    reason: str,  # type: ignore[type-arg]
) -> None:
    resp = await client.post(
        "/api/v1/alerts", json={**ALERT, **change}, headers=_auth(client, "alerting")
    )
    assert resp.status == 400
    assert reason in (await resp.json())["reason"]
    listing = await (await client.get("/api/v1/alerts", headers=_auth(client, "noc"))).json()
    assert listing["total"] == 0  # nothing partial was stored


async def test_polygon_and_circle_resolve_through_the_inventory(client: TestClient) -> None:  # type: ignore[type-arg]
    polygon = {**ALERT, "target": {"polygon": [[41, 2], [42, 2], [42, 3], [41, 3]]}}
    resp = await client.post("/api/v1/alerts", json=polygon, headers=_auth(client, "alerting"))
    assert resp.status == 201
    circle = {**ALERT, "target": {"circle": {"lat": 45.01, "lon": 7.01, "radius_km": 5}}}
    resp = await client.post("/api/v1/alerts", json=circle, headers=_auth(client, "alerting"))
    assert resp.status == 201


async def test_roles(client: TestClient) -> None:  # type: ignore[type-arg]
    assert (
        await client.post("/api/v1/alerts", json=ALERT, headers=_auth(client, "noc"))
    ).status == 403
    assert (
        await client.post("/api/v1/alerts", json=ALERT, headers=_auth(client, "crm"))
    ).status == 403
    assert (await client.get("/api/v1/alerts", headers=_auth(client, "crm"))).status == 403
    assert (await client.post("/api/v1/alerts", json=ALERT)).status == 401


ECBE = {
    "cbe_name": "authority",
    "category": "high_priority",
    "repetition_period": 5,
    "num_of_bcast": 0,
    "scope": {"scope_plmn": {}},
    "smscb_message": {
        "message_id": 4370,
        "serial_nr": {
            "serial_nr_decoded": {"geo_scope": "plmn_wide", "msg_code": 7, "update_nr": 0}
        },
        "payload": {
            "payload_decoded": {"character_set": "gsm", "language": "en", "data_utf8": "Hi"}
        },
    },
}


async def test_ecbe_like_osmo_cbc(client: TestClient) -> None:  # type: ignore[type-arg]
    auth = _auth(client, "alerting")
    assert (await client.post("/api/ecbe/v1/message", json=ECBE, headers=auth)).status == 201
    assert (await client.post("/api/ecbe/v1/message", json=ECBE, headers=auth)).status == 409
    bad = {**ECBE, "repetition_period": 0}
    assert (await client.post("/api/ecbe/v1/message", json=bad, headers=auth)).status == 400
    encoded = {**ECBE, "smscb_message": {**ECBE["smscb_message"], "message_id": 4380,
               "payload": {"payload_encoded": {"dcs": 15, "pages": ["c8329bfd06"]}}}}  # fmt: skip
    assert (await client.post("/api/ecbe/v1/message", json=encoded, headers=auth)).status == 201
    assert (await client.delete("/api/ecbe/v1/message/4370", headers=auth)).status == 200
    assert (await client.delete("/api/ecbe/v1/message/4370", headers=auth)).status == 404
    listing = await (
        await client.get("/api/v1/alerts?source=ecbe", headers=_auth(client, "noc"))
    ).json()
    assert listing["total"] == 2


async def test_cell_inventory_through_the_api(client: TestClient, engine: AsyncEngine) -> None:  # type: ignore[type-arg]
    from omnigw.cbc import inventory

    cells = {"cells": [{"cgi": "901-70-30-1", "lat": 10.0, "lon": 10.0, "azimuth": 120},
                       {"cgi": "901-70-23-2", "lat": 10.1, "lon": 10.1}]}  # fmt: skip
    assert (
        await client.put("/api/v1/cells", json=cells, headers=_auth(client, "alerting"))
    ).status == 403
    resp = await client.put("/api/v1/cells", json=cells, headers=_auth(client, "admin"))
    assert resp.status == 200 and (await resp.json())["stored"] == 2
    listed = await (await client.get("/api/v1/cells", headers=_auth(client, "alerting"))).json()
    sources = {c["cgi"]: c["source"] for c in listed["data"]}
    assert sources == {"901-70-23-1": "config", "901-70-23-2": "api", "901-70-30-1": "api"}
    square = {**ALERT, "target": {"polygon": [[9.5, 9.5], [10.5, 9.5], [10.5, 10.5], [9.5, 10.5]]}}
    resp = await client.post("/api/v1/alerts", json=square, headers=_auth(client, "alerting"))
    assert resp.status == 201, await resp.text()
    assert {c.cell for c in await inventory.load(session_factory(engine))} == {
        "901-70-30-1",
        "901-70-23-2",
    }
    twice = {"cells": [cells["cells"][0], cells["cells"][0]]}
    resp = await client.put("/api/v1/cells", json=twice, headers=_auth(client, "admin"))
    assert resp.status == 400 and "listed twice" in (await resp.json())["reason"]
    bad = {"cells": [{"cgi": "901-70-99999-1", "lat": 0, "lon": 0}]}
    resp = await client.put("/api/v1/cells", json=bad, headers=_auth(client, "admin"))
    assert resp.status == 400 and "LAC and CI" in (await resp.json())["reason"]


async def test_lte_cells_in_the_inventory_resolve_with_gsm_cells(
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    cells = {"cells": [{"ecgi": "901-70-4097", "lat": 20.0, "lon": 20.0},
                       {"cgi": "901-70-31-1", "lat": 20.1, "lon": 20.1}]}  # fmt: skip
    resp = await client.put("/api/v1/cells", json=cells, headers=_auth(client, "admin"))
    assert resp.status == 200, await resp.text()
    listed = await (await client.get("/api/v1/cells", headers=_auth(client, "alerting"))).json()
    assert {"ecgi": "901-70-4097", "lat": 20.0, "lon": 20.0, "azimuth": None,
            "source": "api"} in listed["data"]  # fmt: skip
    both = {**ALERT, "target": {"circle": {"lat": 20.05, "lon": 20.05, "radius_km": 30}}}
    resp = await client.post("/api/v1/alerts", json=both, headers=_auth(client, "alerting"))
    assert resp.status == 201, await resp.text()
    neither = {"cells": [{"lat": 0, "lon": 0}]}
    resp = await client.put("/api/v1/cells", json=neither, headers=_auth(client, "admin"))
    assert resp.status == 400 and "exactly one of cgi, ecgi" in (await resp.json())["reason"]
