"""Balances of the embedded backend over the control API (labs; CGRateS keeps its own)."""

from __future__ import annotations

from aiohttp import web

from omnigw.api.routes import Body, Route, json_response, read_body
from omnigw.config import Amount
from omnigw.errors import Conflict, NotFound
from omnigw.identity.permissions import Permission
from omnigw.ocs.charge import UNITS_BY_NAME, Ocs
from omnigw.ocs.embedded import EmbeddedOcs

OCS = web.AppKey("omnigw_ocs", Ocs)
TAG = "ocs"


class BalancesIn(Body):
    seconds: Amount | None = None
    octets: Amount | None = None
    units: Amount | None = None


def _embedded(request: web.Request) -> EmbeddedOcs:
    ocs = request.app[OCS]
    if not isinstance(ocs, EmbeddedOcs):
        raise Conflict("balances live in CGRateS with this configuration")
    return ocs


async def get_account(request: web.Request) -> web.Response:
    account = request.match_info["account"]
    balances = _embedded(request).balance_of(account)
    if balances is None:
        raise NotFound(f"no account {account}")
    return json_response({"account": account, "balances": balances})


async def put_account(request: web.Request) -> web.Response:
    """Set balances (creating the account); units not given keep their value."""
    ocs = _embedded(request)
    account = request.match_info["account"]
    body = await read_body(request, BalancesIn)
    for name, amount in body.model_dump(exclude_none=True).items():
        await ocs.set_balance(account, UNITS_BY_NAME[name], amount)
    return json_response({"account": account, "balances": ocs.balance_of(account) or {}})


ROUTES = [
    Route("GET", "/api/v1/ocs/accounts/{account}", get_account, Permission.OCS_READ,
          "An embedded-backend account's balances", TAG),
    Route("PUT", "/api/v1/ocs/accounts/{account}", put_account, Permission.OCS_WRITE,
          "Set an embedded-backend account's balances", TAG, BalancesIn),
]  # fmt: skip
