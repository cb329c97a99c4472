"""Provisioning over HTTP, and the service routes whose writes reach the charging side."""

from __future__ import annotations

from dataclasses import asdict

from aiohttp import web

from omnigw.api.middleware import principal
from omnigw.api.routes import Route, json_response, read_body
from omnigw.crm.api import CRM, ID, row_id
from omnigw.crm.resources import SERVICE
from omnigw.crm.schemas import ProvisionIn, ServicePatch
from omnigw.crm.service import int_param
from omnigw.crm_bridge.jobs import OK, Provisioner
from omnigw.errors import Forbidden, NotFound, UpstreamFailed
from omnigw.identity.permissions import Permission
from omnigw.ocs.accounts import AccountError, Accounts

PROVISIONER = web.AppKey("omnigw_provisioner", Provisioner)
ACCOUNTS = web.AppKey("omnigw_accounts", Accounts)
TAG = "provisioning"


async def provision(request: web.Request) -> web.Response:
    """Start a job for a product; with `"wait": true` answer once it has finished."""
    body = await read_body(request, ProvisionIn)
    job = await request.app[PROVISIONER].provision(principal(request).email, body)
    return json_response(job)


async def list_jobs(request: web.Request) -> web.Response:
    return json_response(await request.app[PROVISIONER].find(request.query))


async def get_job(request: web.Request) -> web.Response:
    return json_response(await request.app[PROVISIONER].get(row_id(request)))


async def _lifecycle(request: web.Request, service_id: int, operation: str) -> None:
    job = await request.app[PROVISIONER].lifecycle(principal(request).email, service_id, operation)
    if job["status"] != OK:
        raise UpstreamFailed(
            f"{operation} of service {service_id} failed and was rolled back "
            f"(provisioning job {job['provision_id']}): {job['error']}"
        )


async def update_service(request: web.Request) -> web.Response:
    """Change a service; a new `service_status` suspends or resumes it on the charging side."""
    body = await read_body(request, ServicePatch)
    service_id, who = row_id(request), principal(request)
    crm = request.app[CRM]
    current = await crm.get(SERVICE, service_id)
    wanted = body.service_status
    if wanted is not None and wanted != current["service_status"]:
        if not who.allows(Permission.PROVISION):
            raise Forbidden(f"permission {Permission.PROVISION.value} required to change status")
        await _lifecycle(request, service_id, "resume" if wanted == "active" else "suspend")
    rest = ServicePatch.model_validate(body.model_dump(exclude_unset=True,
                                                       exclude={"service_status"}))  # fmt: skip
    return json_response(await crm.update(SERVICE, who.email, service_id, rest))


async def deprovision_service(request: web.Request) -> web.Response:
    """Release its inventory, remove its account, end it (the record stays, inactive)."""
    await _lifecycle(request, row_id(request), "deprovision")
    return json_response(await request.app[CRM].get(SERVICE, row_id(request)))


async def service_balance(request: web.Request) -> web.Response:
    service = await request.app[CRM].get(SERVICE, row_id(request))
    account = service["service_uuid"]
    try:
        balances = await request.app[ACCOUNTS].balances(account)
    except AccountError as exc:
        raise UpstreamFailed(str(exc)) from None
    if balances is None:
        raise NotFound(f"service {service['service_id']} has no charging account {account}")
    return json_response(
        {"service_id": service["service_id"], "service_uuid": account, "balances": balances}
    )


async def service_usage(request: web.Request) -> web.Response:
    """The account's ended charges, newest first (`page`, `per_page` as every CRM list)."""
    service = await request.app[CRM].get(SERVICE, row_id(request))
    account = service["service_uuid"]
    per_page = int_param(request.query, "per_page", 100, 1000)
    offset = (int_param(request.query, "page", 1, 10**6) - 1) * per_page
    try:
        records = await request.app[ACCOUNTS].usage(account, per_page, offset)
    except AccountError as exc:
        raise UpstreamFailed(str(exc)) from None
    if records is None:
        raise NotFound(f"service {service['service_id']} has no charging account {account}")
    totals: dict[str, float] = {}
    for record in records:
        totals[record.unit] = totals.get(record.unit, 0.0) + record.amount
    return json_response({
        "service_id": service["service_id"], "service_uuid": account, "totals": totals,
        "records": [asdict(r) for r in records],
    })  # fmt: skip


ROUTES = [
    Route("PUT", "/crm/provision", provision, Permission.PROVISION,
          "Provision a product for a customer (runs its provisioning_play)", TAG, ProvisionIn),
    Route("GET", "/crm/provision", list_jobs, Permission.CRM_READ,
          "Provisioning jobs, newest first (filters: customer_id, service_id, status)", TAG),
    Route("GET", f"/crm/provision/{ID}", get_job, Permission.CRM_READ,
          "One provisioning job with each step's status and output", TAG),
    Route("PATCH", f"/crm/service/{ID}", update_service, Permission.CRM_WRITE,
          "Change a service; service_status suspends/resumes it (needs provision:run)",
          TAG, ServicePatch),
    Route("DELETE", f"/crm/service/{ID}", deprovision_service, Permission.PROVISION,
          "Deprovision a service", TAG),
    Route("GET", f"/crm/service/{ID}/balance", service_balance, Permission.OCS_READ,
          "The service's balances in the charging backend", TAG),
    Route("GET", f"/crm/service/{ID}/usage", service_usage, Permission.OCS_READ,
          "The service's usage records (CGRateS CDRs or the embedded history), newest first; "
          "totals are of the records on this page", TAG),
]  # fmt: skip
