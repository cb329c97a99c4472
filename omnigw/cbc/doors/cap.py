"""The OASIS CAP door: CAP 1.2 (and 1.1) XML in, as a new alert, an update or a cancel."""

from __future__ import annotations

from aiohttp import web

from omnigw.api.middleware import principal
from omnigw.api.routes import Route, json_response
from omnigw.cbc import cap as cap_xml
from omnigw.cbc.areas import AreaError, Areas, Target
from omnigw.cbc.intake import AREAS, SERVICE, rejecting
from omnigw.cbc.metrics import REJECTED
from omnigw.cbc.runtime import AlertSpec, Text
from omnigw.errors import Invalid, NotFound
from omnigw.identity.permissions import Permission

TAG = "alerts"


async def _cap_target(areas: Areas, alert: cap_xml.CapAlert) -> Target:
    targets = []
    try:
        for area in alert.areas:
            targets += [await areas.polygon(p) for p in area.polygons]
            targets += [await areas.circle(*c) for c in area.circles]
            if area.cells:
                targets.append(areas.cells(area.cells))
            if area.named:
                targets.append(areas.named(area.named))
        return areas.union(targets)
    except AreaError as exc:
        raise Invalid(f"info[0].area: {exc}") from None


async def _cap_spec(areas: Areas, alert: cap_xml.CapAlert) -> AlertSpec:
    return AlertSpec(
        target=await _cap_target(areas, alert),
        texts=tuple(Text(i.language, i.text) for i in alert.infos),
        alert_class=alert.alert_class,
        severity=alert.severity,
        urgency=alert.urgency,
        certainty=alert.certainty,
        expires_at=alert.expires,
        source="cap",
        external_ref=alert.identifier,
    )


async def cap(request: web.Request) -> web.Response:
    """Alert -> a new alert; Update -> the referenced alert superseded (matched by language,
    area re-targeted); Cancel -> KILL. References resolve through the whole chain of
    Updates an alert has taken, so a feed may name its latest message."""
    service = request.app[SERVICE]
    who = principal(request).email
    try:
        alert = cap_xml.parse(await request.read())
    except cap_xml.CapError as exc:
        REJECTED.labels("cap").inc()
        raise Invalid(str(exc)) from None
    if alert.msg_type == "Alert":
        spec = await _cap_spec(request.app[AREAS], alert)
        alert_id = await rejecting("cap", service.submit(spec, who))
        return json_response(service.summary(alert_id), status=201)
    found = [await service.find_active("cap", ref.identifier) for ref in alert.references]
    live = list(dict.fromkeys(a for a in found if a is not None))
    if not live:
        names = ", ".join(ref.identifier for ref in alert.references)
        raise NotFound(f"references: no active alert {names}")
    for alert_id in live:
        if alert.msg_type == "Cancel":
            await service.cancel(alert_id, who)
        else:
            spec = await _cap_spec(request.app[AREAS], alert)
            await rejecting("cap", service.supersede(alert_id, spec, who, alert.identifier))
    return json_response({"status": "ok", "alerts": live})


ROUTES = [
    Route("POST", "/api/v1/cap", cap, Permission.ALERT_SUBMIT,
          "Submit OASIS CAP 1.2 or 1.1 XML (Alert; Update supersedes; Cancel; references "
          "resolve through the alert's chain)", TAG),
]  # fmt: skip
