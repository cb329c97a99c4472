"""The ECBE door: osmo-cbc's REST interface, so what drives osmo-cbc drives omnigw."""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import Field

from omnigw.api.middleware import principal
from omnigw.api.routes import Body, Route
from omnigw.cbc.areas import Areas
from omnigw.cbc.cbsp.adapter import REPETITION_UNIT
from omnigw.cbc.intake import AREAS, CATEGORY, SERVICE, intake, rejecting
from omnigw.cbc.messages import EncodedText, GeoScope, Page, SerialNumber
from omnigw.cbc.runtime import AlertSpec, Text
from omnigw.errors import Invalid, NotFound
from omnigw.identity.permissions import Permission


class EcbeSerialDecoded(Body):
    geo_scope: Literal["cell_wide_immediate", "plmn_wide", "lac_sac_tac_wide", "cell_wide"]
    msg_code: int = Field(ge=0, le=1023)
    update_nr: int = Field(ge=0, le=15)


class EcbeSerial(Body):
    serial_nr_encoded: int | None = Field(default=None, ge=0, le=65535)
    serial_nr_decoded: EcbeSerialDecoded | None = None


class EcbeDecoded(Body):
    character_set: Literal["gsm", "8bit", "ucs2"] = "gsm"
    language: str | None = None
    data_utf8: str = Field(min_length=1)


class EcbeEncoded(Body):
    dcs: int = Field(ge=0, le=255)
    pages: list[str] = Field(min_length=1, max_length=15)


class EcbeEtws(Body):
    warning_type: int = Field(ge=0, le=127)
    emergency_user_alert: bool = True
    popup_on_display: bool = True
    warning_sec_info: str | None = None


class EcbePayload(Body):
    payload_decoded: EcbeDecoded | None = None
    payload_encoded: EcbeEncoded | None = None
    payload_etws: EcbeEtws | None = None


class EcbeSmscb(Body):
    message_id: int = Field(ge=0, le=65535)
    serial_nr: EcbeSerial
    payload: EcbePayload


class EcbeScope(Body):
    scope_plmn: dict[str, Any] | None = None


class EcbeMessage(Body):
    cbe_name: str = Field(min_length=1, max_length=64)
    category: Literal["normal", "high_priority", "background"] = "normal"
    repetition_period: int = Field(ge=1, le=4095, description="units of 1.883 s")
    num_of_bcast: int = Field(default=0, ge=0, le=65535)
    warning_period_sec: int | None = Field(default=None, ge=0)
    scope: EcbeScope
    smscb_message: EcbeSmscb


_GEO = {"cell_wide_immediate": 0, "plmn_wide": 1, "lac_sac_tac_wide": 2, "cell_wide": 3}


def _ecbe_spec(body: EcbeMessage, areas: Areas) -> AlertSpec:
    sm = body.smscb_message
    serial_in = sm.serial_nr
    if serial_in.serial_nr_decoded is not None:
        d = serial_in.serial_nr_decoded
        serial = SerialNumber(GeoScope(_GEO[d.geo_scope]), d.msg_code, d.update_nr)
    elif serial_in.serial_nr_encoded is not None:
        serial = SerialNumber.decode(serial_in.serial_nr_encoded)
    else:
        raise Invalid("smscb_message.serial_nr: give serial_nr_encoded or serial_nr_decoded")
    payload = sm.payload
    texts: tuple[Text, ...] = ()
    encoded = None
    warning = None
    if payload.payload_decoded is not None:
        decoded = payload.payload_decoded
        texts = (Text(decoded.language, decoded.data_utf8),)
    elif payload.payload_encoded is not None:
        raw = payload.payload_encoded
        pages = []
        for index, page in enumerate(raw.pages):
            try:
                data = bytes.fromhex(page)
            except ValueError:
                raise Invalid(f"payload_encoded.pages.{index}: not hex") from None
            if len(data) > 82:
                raise Invalid(f"payload_encoded.pages.{index}: more than 82 octets")
            pages.append(Page(data.ljust(82, b"\0"), len(data)))
        encoded = EncodedText(raw.dcs, tuple(pages))
    elif payload.payload_etws is not None:
        etws = payload.payload_etws
        warning = (
            (etws.warning_type << 9)
            | (int(etws.emergency_user_alert) << 8)
            | (int(etws.popup_on_display) << 7)
        )
    else:
        raise Invalid("smscb_message.payload: give payload_decoded, _encoded or _etws")
    if body.scope.scope_plmn is None:
        raise Invalid("scope: only scope_plmn is supported")
    return AlertSpec(
        target=areas.plmn(),
        texts=texts,
        identifier=sm.message_id,
        alert_class=None,
        category=CATEGORY[body.category],
        repetition_seconds=max(2, round(body.repetition_period * REPETITION_UNIT)),
        broadcasts_requested=body.num_of_bcast,
        source="ecbe",
        external_ref=str(sm.message_id),
        serial=serial,
        encoded=encoded,
        warning_type=warning,
    )


async def ecbe_create(request: web.Request) -> web.Response:
    body = await intake(request, EcbeMessage, "ecbe")
    spec = _ecbe_spec(body, request.app[AREAS])
    await rejecting("ecbe", request.app[SERVICE].submit(spec, principal(request).email))
    return web.Response(status=201)


async def ecbe_delete(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    alert_id = await service.find_active("ecbe", request.match_info["message_id"])
    if alert_id is None:
        raise NotFound(f"no active message {request.match_info['message_id']}")
    await service.cancel(alert_id, principal(request).email)
    return web.Response(status=200)


ROUTES = [
    Route("POST", "/api/ecbe/v1/message", ecbe_create, Permission.ALERT_SUBMIT,
          "osmo-cbc ECBE: create a message (201, 409 duplicate, 400 bad input)", "ecbe",
          EcbeMessage, None, 201),
    Route("DELETE", "/api/ecbe/v1/message/{message_id}", ecbe_delete, Permission.ALERT_SUBMIT,
          "osmo-cbc ECBE: delete a message (200, 404 unknown)", "ecbe"),
]  # fmt: skip
