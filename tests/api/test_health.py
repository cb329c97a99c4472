"""Health needs no credentials; readiness reflects the checks and draining."""

from __future__ import annotations

from omnigw.api.context import CONTEXT
from tests.support.api import Api


async def test_healthz_and_readyz_without_auth(api: Api) -> None:
    assert (await api.client.get("/healthz")).status == 200
    ctx = api.client.app[CONTEXT]
    healthy = True

    async def store() -> bool:
        return healthy

    ctx.readiness["store"] = store
    resp = await api.client.get("/readyz")
    assert resp.status == 200 and (await resp.json())["checks"] == {
        "store": True,
        "not_draining": True,
    }
    healthy = False
    resp = await api.client.get("/readyz")
    assert resp.status == 503 and (await resp.json())["checks"]["store"] is False
    healthy = True
    ctx.draining = True
    assert (await api.client.get("/readyz")).status == 503
