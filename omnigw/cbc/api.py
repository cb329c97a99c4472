"""Alert intake and status over HTTP: the native API, the cell inventory, and the routes of
the other doors (CAP, ECBE)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import Field, model_validator

from omnigw.api.middleware import principal
from omnigw.api.routes import Body, Route, json_response, read_body
from omnigw.cbc import inventory
from omnigw.cbc.areas import AreaError, Areas, CellPosition, Target
from omnigw.cbc.cap import MAX_POLYGON_POINTS
from omnigw.cbc.cbsp import results as cbsp_results
from omnigw.cbc.doors import cap as doors_cap
from omnigw.cbc.doors import ecbe as doors_ecbe
from omnigw.cbc.intake import AREAS, CATEGORY, SERVICE, SESSIONS, intake, rejecting
from omnigw.cbc.messages import (
    AlertClass,
    Certainty,
    GeoScope,
    SerialNumber,
    Urgency,
)
from omnigw.cbc.models import Alert
from omnigw.cbc.results import Reader
from omnigw.cbc.sbcap import results as sbcap_results
from omnigw.cbc.service import AlertSpec, Text
from omnigw.errors import Invalid
from omnigw.identity.permissions import Permission

TAG = "alerts"


class TextIn(Body):
    language: str | None = Field(default=None, description="ISO 639-1 code")
    text: str = Field(min_length=1, max_length=4000)


Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]


class Circle(Body):
    lat: Latitude
    lon: Longitude
    radius_km: float = Field(gt=0, le=1000)


class TargetIn(Body):
    """Exactly one of these."""

    plmn: bool | None = None
    cells: list[str] | None = Field(default=None, description="CGIs 'mcc-mnc-lac-ci'")
    lac: list[int] | None = None
    lai: list[str] | None = Field(default=None, description="'mcc-mnc-lac'")
    ecgis: list[str] | None = Field(default=None, description="LTE cells 'mcc-mnc-eci'")
    tais: list[str] | None = Field(default=None, description="tracking areas 'mcc-mnc-tac'")
    emergency_areas: list[int] | None = Field(default=None, description="emergency area ids")
    areas: list[str] | None = Field(default=None, description="configured area names")
    polygon: list[tuple[Latitude, Longitude]] | None = Field(
        default=None, max_length=MAX_POLYGON_POINTS, description="[lat, lon]"
    )
    circle: Circle | None = None

    @model_validator(mode="after")
    def _one(self) -> TargetIn:
        given = [k for k, v in self.model_dump().items() if v not in (None, False)]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of plmn, cells, lac, lai, ecgis, tais, emergency_areas, "
                "areas, polygon, circle"
            )
        return self


class AlertIn(Body):
    alert_class: AlertClass | None = Field(default=None, alias="class")
    message_id: int | None = Field(default=None, ge=0, le=65535)
    severity: Literal["Extreme", "Severe"] = "Extreme"
    urgency: Urgency = Urgency.IMMEDIATE
    certainty: Certainty = Certainty.OBSERVED
    texts: list[TextIn] = Field(default_factory=list, max_length=8)
    target: TargetIn
    category: Literal["high_priority", "normal", "background"] | None = None
    repetition_seconds: int | None = Field(default=None, ge=2, le=7700)
    broadcasts: int = Field(default=0, ge=0, le=65535, description="0 = until cancelled")
    expires_at: datetime | None = None
    duration_seconds: int | None = Field(default=None, gt=0, le=366 * 86400)

    @model_validator(mode="after")
    def _class_or_id(self) -> AlertIn:
        if (self.alert_class is None) == (self.message_id is None):
            raise ValueError("give exactly one of class, message_id")
        if self.expires_at is not None and self.duration_seconds is not None:
            raise ValueError("give at most one of expires_at, duration_seconds")
        return self


class AlertUpdate(Body):
    texts: list[TextIn] = Field(min_length=1, max_length=8)


async def resolve_target(areas: Areas, target: TargetIn) -> Target:
    try:
        if target.plmn:
            return areas.plmn()
        if target.cells is not None:
            return areas.cells(target.cells)
        if target.lac is not None:
            return areas.lacs(target.lac)
        if target.lai is not None:
            return areas.lais(target.lai)
        if target.ecgis is not None:
            return areas.ecgis(target.ecgis)
        if target.tais is not None:
            return areas.tais(target.tais)
        if target.emergency_areas is not None:
            return areas.emergency_areas(target.emergency_areas)
        if target.areas is not None:
            return areas.named(target.areas)
        if target.polygon is not None:
            return await areas.polygon(target.polygon)
        assert target.circle is not None
        return await areas.circle(target.circle.lat, target.circle.lon, target.circle.radius_km)
    except AreaError as exc:
        raise Invalid(f"target.{exc}") from None


# How each interface's answers become cell results
READERS: dict[str, Reader] = {"cbsp": cbsp_results, "sbcap": sbcap_results}


def alert_view(alert: Alert, cells: bool = True) -> dict[str, Any]:
    """The status an authority reads: per message, per peer, and (with `cells`) per cell.

    The per-cell view decodes every answer the peers sent, which for a
    PLMN-wide alert means every cell of the network: the answers to submit,
    update and cancel leave it out and `GET /api/v1/alerts/{id}` carries it.
    """
    target = Target.from_json(alert.target)
    messages = []
    totals = {"installed": 0, "failed": 0, "killed": 0}
    for message in alert.messages:
        peers = []
        for delivery in message.deliveries:
            reader = READERS[delivery.interface]
            results = reader.cells(delivery, target) if cells else []
            for c in results:
                totals[c.state] = totals.get(c.state, 0) + 1
            peers.append(
                {
                    "peer": delivery.peer,
                    "interface": delivery.interface,
                    "state": delivery.state,
                    "attempts": delivery.attempts,
                    "error": delivery.error,
                    "confirmed_at": delivery.confirmed_at,
                    "answer": reader.answer(delivery),
                    "cells": [
                        {
                            "cell": c.cell,
                            "state": c.state,
                            "cause": c.cause,
                            "broadcasts_completed": c.broadcasts_completed,
                        }
                        for c in results
                    ],
                }
            )
        serial = SerialNumber(GeoScope(message.geo_scope), message.message_code,
                              message.update_number)  # fmt: skip
        messages.append(
            {
                "language": message.language,
                "text": message.text,
                "message_id": message.message_identifier,
                "serial_number": serial.encode(),
                "geo_scope": GeoScope(message.geo_scope).name.lower(),
                "message_code": message.message_code,
                "update_number": message.update_number,
                "dcs": message.dcs,
                "pages": len(message.pages),
                "stopped_at": message.stopped_at,
                "peers": peers,
            }
        )
    return {
        "id": alert.id,
        "state": alert.state,
        "source": alert.source,
        "reference": alert.external_ref,
        "class": alert.alert_class,
        "priority": alert.priority,
        "submitted_by": alert.submitted_by,
        "created_at": alert.created_at,
        "updated_at": alert.updated_at,
        "expires_at": alert.expires_at,
        "ended_at": alert.ended_at,
        "delivered_at": alert.completed_at,
        "cells": totals if cells else None,
        "messages": messages,
    }


async def create(request: web.Request) -> web.Response:
    body = await intake(request, AlertIn, "api")
    areas, service = request.app[AREAS], request.app[SERVICE]
    expires = body.expires_at
    if body.duration_seconds is not None:
        expires = datetime.now(UTC) + timedelta(seconds=body.duration_seconds)
    if expires is not None and expires.tzinfo is None:
        raise Invalid("expires_at: give a time zone")
    spec = AlertSpec(
        target=await resolve_target(areas, body.target),
        texts=tuple(Text(t.language, t.text) for t in body.texts),
        alert_class=body.alert_class,
        identifier=body.message_id,
        severity=body.severity,
        urgency=body.urgency,
        certainty=body.certainty,
        category=CATEGORY[body.category] if body.category else None,
        repetition_seconds=body.repetition_seconds,
        broadcasts_requested=body.broadcasts,
        expires_at=expires,
    )
    alert_id = await rejecting("api", service.submit(spec, principal(request).email))
    return json_response(service.summary(alert_id), status=201)


async def get(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    alert_id = request.match_info["alert_id"]
    view = alert_view(await service.get(alert_id), cells=request.query.get("cells") != "0")
    view["history"] = [
        {"at": e.at, "what": e.what, "detail": e.detail} for e in await service.history(alert_id)
    ]
    return json_response(view)


async def listing(request: web.Request) -> web.Response:
    q = request.query
    try:
        limit = min(int(q.get("limit", "50")), 500)
        offset = int(q.get("offset", "0"))
    except ValueError:
        raise Invalid("limit/offset: must be integers") from None
    state = q.get("state")
    if state not in (None, "active", "cancelled", "expired"):
        raise Invalid("state: one of active, cancelled, expired")
    total, alerts = await request.app[SERVICE].list(state, q.get("source"), limit, offset)
    data = [
        {"id": a.id, "state": a.state, "class": a.alert_class, "source": a.source,
         "created_at": a.created_at, "delivered_at": a.completed_at, "reference": a.external_ref}
        for a in alerts
    ]  # fmt: skip
    return json_response({"total": total, "limit": limit, "offset": offset, "data": data})


async def status_query(request: web.Request) -> web.Response:
    """MESSAGE STATUS QUERY to every peer holding the alert; counts land in the cell view."""
    sent = await request.app[SERVICE].query_status(request.match_info["alert_id"])
    return json_response({"status": "ok", "queries_sent": sent}, status=202)


async def patch(request: web.Request) -> web.Response:
    body = await read_body(request, AlertUpdate)
    service = request.app[SERVICE]
    alert_id = request.match_info["alert_id"]
    texts = [Text(t.language, t.text) for t in body.texts]
    await rejecting("api", service.revise_texts(alert_id, texts, principal(request).email))
    return json_response(service.summary(alert_id))


async def cancel(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    alert_id = request.match_info["alert_id"]
    await service.cancel(alert_id, principal(request).email)
    return json_response(alert_view(await service.get(alert_id), cells=False))


# --- cell inventory ---------------------------------------------------------------------


class CellIn(Body):
    """A GSM cell (cgi) or an LTE cell (ecgi) and where it is."""

    cgi: str | None = Field(default=None, pattern=r"^\d{3}-\d{2,3}-\d{1,5}-\d{1,5}$",
                            description="mcc-mnc-lac-ci")  # fmt: skip
    ecgi: str | None = Field(default=None, pattern=r"^\d{3}-\d{2,3}-\d{1,9}$",
                             description="mcc-mnc-eci")  # fmt: skip
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    azimuth: float | None = Field(default=None, ge=0, lt=360)

    @model_validator(mode="after")
    def _one_identity(self) -> CellIn:
        if (self.cgi is None) == (self.ecgi is None):
            raise ValueError("give exactly one of cgi, ecgi")
        return self


class InventoryIn(Body):
    cells: list[CellIn] = Field(max_length=200_000)


async def cells_get(request: web.Request) -> web.Response:
    data = [
        {"ecgi" if c.cell.count("-") == 2 else "cgi": c.cell, "lat": c.lat, "lon": c.lon,
         "azimuth": c.azimuth, "source": source}
        for c, source in request.app[AREAS].inventory()
    ]  # fmt: skip
    return json_response({"total": len(data), "data": data})


async def cells_put(request: web.Request) -> web.Response:
    """Replace the API-managed cells (config-file cells stay; same cell: the API wins)."""
    body = await read_body(request, InventoryIn)
    cells = [CellPosition(c.cgi or c.ecgi or "", c.lat, c.lon, c.azimuth) for c in body.cells]
    await inventory.replace(request.app[SESSIONS], cells, principal(request).email)
    request.app[AREAS].set_stored(cells)
    return json_response({"status": "ok", "stored": len(cells)})


ROUTES = [
    Route("POST", "/api/v1/alerts", create, Permission.ALERT_SUBMIT,
          "Submit an alert (stored before the answer)", TAG, AlertIn, None, 201),
    Route("GET", "/api/v1/alerts", listing, Permission.ALERT_READ,
          "List alerts (filters: state, source; limit, offset)", TAG),
    Route("GET", "/api/v1/alerts/{alert_id}", get, Permission.ALERT_READ,
          "An alert with per-peer and per-cell delivery status and history", TAG),
    Route("POST", "/api/v1/alerts/{alert_id}/status-query", status_query, Permission.ALERT_READ,
          "Ask the peers for broadcast counts (MESSAGE STATUS QUERY)", TAG, None, None, 202),
    Route("PATCH", "/api/v1/alerts/{alert_id}", patch, Permission.ALERT_SUBMIT,
          "New texts for some of an alert's languages (matched by language): same message "
          "codes, update number + 1", TAG, AlertUpdate),
    Route("DELETE", "/api/v1/alerts/{alert_id}", cancel, Permission.ALERT_SUBMIT,
          "Cancel an alert (KILL on every peer)", TAG),
    Route("GET", "/api/v1/cells", cells_get, Permission.ALERT_READ,
          "The cell inventory that areas, polygons and circles resolve to", "cells"),
    Route("PUT", "/api/v1/cells", cells_put, Permission.NETWORK_WRITE,
          "Replace the API-managed cells of the inventory", "cells", InventoryIn),
    *doors_cap.ROUTES,
    *doors_ecbe.ROUTES,
]  # fmt: skip
