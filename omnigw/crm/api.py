"""The /crm routes, OmniCRM's conventions: PUT creates, PATCH /<id> updates, GET lists.

Lists answer a plain JSON array (OmniCRM clients iterate the body) and say the
total in `X-Total-Count`; `page`, `per_page`, `sort`, `order`, `search` and the
resource's filters are query parameters.
"""

from __future__ import annotations

from aiohttp import web

from omnigw.api.middleware import principal
from omnigw.api.routes import Handler, Route, json_response, read_body
from omnigw.crm.resources import RESOURCES, SERVICE, Resource
from omnigw.crm.service import CrmService
from omnigw.identity.permissions import Permission

CRM = web.AppKey("omnigw_crm", CrmService)
TAG = "crm"
ID = r"{id:\d+}"


def row_id(request: web.Request) -> int:
    return int(request.match_info["id"])


def _named(handler: Handler, name: str) -> Handler:
    handler.__name__ = name  # the OpenAPI operationId
    return handler


def resource_routes(res: Resource, *, writes: bool = True) -> list[Route]:
    """GET list, GET one, and unless told otherwise PUT, PATCH and DELETE."""

    async def list_rows(request: web.Request) -> web.Response:
        rows, total = await request.app[CRM].find(res, request.query)
        response = json_response(rows)
        response.headers["X-Total-Count"] = str(total)
        return response

    async def get_row(request: web.Request) -> web.Response:
        return json_response(await request.app[CRM].get(res, row_id(request)))

    async def create_row(request: web.Request) -> web.Response:
        assert res.body is not None
        body = await read_body(request, res.body)
        return json_response(await request.app[CRM].create(res, principal(request).email, body))

    async def update_row(request: web.Request) -> web.Response:
        body = await read_body(request, res.patch)
        crm = request.app[CRM]
        return json_response(await crm.update(res, principal(request).email, row_id(request), body))

    async def delete_row(request: web.Request) -> web.Response:
        await request.app[CRM].delete(res, principal(request).email, row_id(request))
        return json_response({"status": "deleted", res.id_field: row_id(request)})

    n = res.name
    routes = [
        Route("GET", res.path, _named(list_rows, f"list_{n}"), Permission.CRM_READ,
              f"List {n}s (filters: {', '.join(res.filters) or 'none'}; search; paging)", TAG),
        Route("GET", f"{res.path}/{ID}", _named(get_row, f"get_{n}"), Permission.CRM_READ,
              f"One {n}", TAG),
    ]  # fmt: skip
    if not writes:
        return routes
    if res.body is not None:
        routes.append(
            Route("PUT", res.path, _named(create_row, f"create_{n}"), Permission.CRM_WRITE,
                  f"Create a {n}", TAG, res.body)
        )  # fmt: skip
    routes.append(
        Route("PATCH", f"{res.path}/{ID}", _named(update_row, f"update_{n}"),
              Permission.CRM_WRITE, f"Change some fields of a {n}", TAG, res.patch)
    )  # fmt: skip
    if res.deletable:
        routes.append(
            Route("DELETE", f"{res.path}/{ID}", _named(delete_row, f"delete_{n}"),
                  Permission.CRM_WRITE, f"Delete a {n} nothing else uses", TAG)
        )  # fmt: skip
    return routes


async def list_activity(request: web.Request) -> web.Response:
    return json_response(await request.app[CRM].activity(request.query))


ROUTES = [
    route
    for res in RESOURCES
    for route in resource_routes(res, writes=res is not SERVICE)
] + [
    Route("GET", "/crm/activity", list_activity, Permission.CRM_READ,
          "Activity log, newest first (filters: entity, entity_id, actor; per_page)", TAG),
]  # fmt: skip
