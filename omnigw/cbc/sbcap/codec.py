"""SBc-AP (TS 29.168) PDUs as types, in APER through pycrate's compilation of the 3GPP ASN.1
(`asn.py`, written by scripts/sbcap-asn.sh).

Each PDU type names its procedure, and each field the IE that carries it and how its value
is written: `_IES` is the whole mapping, so adding an IE is one row. pycrate's PDU object
is one per process: `encode` and `decode` use it from start to finish without yielding,
under a lock, so threads (the geometry helpers, a test's executor) cannot interleave.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from omnigw.cbc.sbcap import asn

PPID = 24  # SCTP payload protocol identifier of SBc-AP
PORT = 29168

_PDU = asn.SBC_AP_PDU_Descriptions.SBC_AP_PDU
_LOCK = threading.Lock()


class DecodeError(ValueError):
    """Not an SBc-AP PDU this codec knows; `cause` is the SBc-AP Cause to answer with."""

    def __init__(self, reason: str, cause: int = 13) -> None:  # transfer-syntax-error
        super().__init__(reason)
        self.cause = cause


# --- identities ----------------------------------------------------------------------------


def plmn_bytes(plmn: str) -> bytes:
    """'mcc-mnc' as TBCD (TS 24.008 10.5.1.3): the filler F for a two-digit MNC."""
    mcc, mnc = plmn.split("-")
    d = [int(c) for c in mcc] + [int(c) for c in mnc] + ([0xF] if len(mnc) == 2 else [])
    return bytes([d[1] << 4 | d[0], (d[5] if len(mnc) == 3 else 0xF) << 4 | d[2],
                  d[4] << 4 | d[3]])  # fmt: skip


def plmn_text(raw: bytes) -> str:
    mcc = f"{raw[0] & 0xF}{raw[0] >> 4}{raw[1] & 0xF}"
    mnc = f"{raw[2] & 0xF}{raw[2] >> 4}" + ("" if raw[1] >> 4 == 0xF else f"{raw[1] >> 4}")
    return f"{mcc}-{mnc}"


@dataclass(frozen=True, slots=True)
class Tai:
    plmn: str
    tac: int


@dataclass(frozen=True, slots=True)
class Ecgi:
    plmn: str
    eci: int  # 28 bits: eNB id and cell


@dataclass(frozen=True, slots=True)
class EnbId:
    plmn: str
    kind: str  # macroENB-ID | homeENB-ID | short-macroENB-ID | long-macroENB-ID
    value: int


_ENB_BITS = {"macroENB-ID": 20, "homeENB-ID": 28, "short-macroENB-ID": 18, "long-macroENB-ID": 21}


@dataclass(frozen=True, slots=True)
class WarningArea:
    """Where a warning goes on an MME: cells, tracking areas or emergency areas (one kind)."""

    ecgis: tuple[Ecgi, ...] = ()
    tais: tuple[Tai, ...] = ()
    emergency_areas: tuple[int, ...] = ()  # 24-bit emergency area ids


@dataclass(frozen=True, slots=True)
class CellReport:
    """A cell an MME reports a warning scheduled or cancelled in; `broadcasts` when counted."""

    ecgi: Ecgi
    broadcasts: int | None = None


# --- PDUs ----------------------------------------------------------------------------------

# (procedure code, initiatingMessage | successfulOutcome, the message's ASN.1 type)
Procedure = tuple[int, str, str]


@dataclass(frozen=True, slots=True)
class WriteReplaceWarningRequest:
    procedure: ClassVar[Procedure] = (0, "initiatingMessage", "Write-Replace-Warning-Request")
    message_id: int
    serial: int
    repetition_period: int  # seconds, 0..4095 here; longer goes in the extended IE
    broadcasts: int  # 0: until stopped
    tais: tuple[Tai, ...] = ()
    warning_area: WarningArea | None = None
    extended_repetition_period: int | None = None  # seconds, 4096..131071
    warning_type: bytes | None = None
    warning_security: bytes | None = None
    dcs: int | None = None
    content: bytes | None = None
    omc_id: bytes | None = None
    concurrent: bool = False
    send_indication: bool = False


@dataclass(frozen=True, slots=True)
class WriteReplaceWarningResponse:
    procedure: ClassVar[Procedure] = (0, "successfulOutcome", "Write-Replace-Warning-Response")
    message_id: int
    serial: int
    cause: int
    unknown_tais: tuple[Tai, ...] = ()


@dataclass(frozen=True, slots=True)
class StopWarningRequest:
    procedure: ClassVar[Procedure] = (1, "initiatingMessage", "Stop-Warning-Request")
    message_id: int
    serial: int
    tais: tuple[Tai, ...] = ()
    warning_area: WarningArea | None = None
    omc_id: bytes | None = None
    send_indication: bool = False


@dataclass(frozen=True, slots=True)
class StopWarningResponse:
    procedure: ClassVar[Procedure] = (1, "successfulOutcome", "Stop-Warning-Response")
    message_id: int
    serial: int
    cause: int
    unknown_tais: tuple[Tai, ...] = ()


@dataclass(frozen=True, slots=True)
class ErrorIndication:
    procedure: ClassVar[Procedure] = (2, "initiatingMessage", "Error-Indication")
    cause: int | None = None


@dataclass(frozen=True, slots=True)
class WriteReplaceWarningIndication:
    procedure: ClassVar[Procedure] = (3, "initiatingMessage", "Write-Replace-Warning-Indication")
    message_id: int
    serial: int
    scheduled: tuple[CellReport, ...] = ()  # cell list form of Broadcast-Scheduled-Area-List


@dataclass(frozen=True, slots=True)
class StopWarningIndication:
    procedure: ClassVar[Procedure] = (4, "initiatingMessage", "Stop-Warning-Indication")
    message_id: int
    serial: int
    cancelled: tuple[CellReport, ...] = ()  # cell list form of Broadcast-Cancelled-Area-List


@dataclass(frozen=True, slots=True)
class PwsRestartIndication:
    procedure: ClassVar[Procedure] = (5, "initiatingMessage", "PWS-Restart-Indication")
    restarted: tuple[Ecgi, ...]
    enb: EnbId
    tais: tuple[Tai, ...]
    emergency_areas: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class PwsFailureIndication:
    procedure: ClassVar[Procedure] = (6, "initiatingMessage", "PWS-Failure-Indication")
    failed: tuple[Ecgi, ...]
    enb: EnbId


Pdu = (
    WriteReplaceWarningRequest | WriteReplaceWarningResponse | StopWarningRequest
    | StopWarningResponse | ErrorIndication | WriteReplaceWarningIndication
    | StopWarningIndication | PwsRestartIndication | PwsFailureIndication
)  # fmt: skip
_TYPES: dict[str, type[Any]] = {
    t.procedure[2]: t
    for t in (WriteReplaceWarningRequest, WriteReplaceWarningResponse, StopWarningRequest,
              StopWarningResponse, ErrorIndication, WriteReplaceWarningIndication,
              StopWarningIndication, PwsRestartIndication, PwsFailureIndication)
}  # fmt: skip


# --- IE values: (to pycrate, from pycrate) -------------------------------------------------


def _tai_out(t: Tai) -> dict[str, Any]:
    return {"pLMNidentity": plmn_bytes(t.plmn), "tAC": t.tac.to_bytes(2, "big")}


def _tai_in(v: dict[str, Any]) -> Tai:
    return Tai(plmn_text(v["pLMNidentity"]), int.from_bytes(v["tAC"], "big"))


def _ecgi_out(e: Ecgi) -> dict[str, Any]:
    return {"pLMNidentity": plmn_bytes(e.plmn), "cell-ID": (e.eci, 28)}


def _ecgi_in(v: dict[str, Any]) -> Ecgi:
    return Ecgi(plmn_text(v["pLMNidentity"]), v["cell-ID"][0])


def _area_out(a: WarningArea) -> tuple[str, Any]:
    if a.ecgis:
        return "cell-ID-List", [_ecgi_out(e) for e in a.ecgis]
    if a.tais:
        return "tracking-Area-List-for-Warning", [_tai_out(t) for t in a.tais]
    return "emergency-Area-ID-List", [i.to_bytes(3, "big") for i in a.emergency_areas]


def _area_in(v: tuple[str, Any]) -> WarningArea:
    kind, items = v
    if kind == "cell-ID-List":
        return WarningArea(ecgis=tuple(_ecgi_in(e) for e in items))
    if kind == "tracking-Area-List-for-Warning":
        return WarningArea(tais=tuple(_tai_in(t) for t in items))
    return WarningArea(emergency_areas=tuple(int.from_bytes(i, "big") for i in items))


def _enb_out(e: EnbId) -> dict[str, Any]:
    return {"pLMNidentity": plmn_bytes(e.plmn), "eNB-ID": (e.kind, (e.value, _ENB_BITS[e.kind]))}


def _enb_in(v: dict[str, Any]) -> EnbId:
    kind, (value, _) = v["eNB-ID"]
    return EnbId(plmn_text(v["pLMNidentity"]), kind, value)


def _scheduled_out(cells: tuple[CellReport, ...]) -> dict[str, Any]:
    return {"cellId-Broadcast-List": [{"eCGI": _ecgi_out(c.ecgi)} for c in cells]}


def _cancelled_out(cells: tuple[CellReport, ...]) -> dict[str, Any]:
    items = [{"eCGI": _ecgi_out(c.ecgi), "numberOfBroadcasts": c.broadcasts or 0} for c in cells]
    return {"cellID-Cancelled-List": items}


def _reported_in(v: dict[str, Any]) -> tuple[CellReport, ...]:
    """Every cell of a Broadcast-Scheduled- or -Cancelled-Area-List, whichever form it took."""
    out: list[CellReport] = []
    for item in v.get("cellId-Broadcast-List", []) + v.get("cellID-Cancelled-List", []):
        out.append(CellReport(_ecgi_in(item["eCGI"]), item.get("numberOfBroadcasts")))
    for key, cells in (("tAI-Broadcast-List", "scheduledCellinTAI"),
                       ("tAI-Cancelled-List", "cancelledCellinTAI"),
                       ("emergencyAreaID-Broadcast-List", "scheduledCellinEAI"),
                       ("emergencyAreaID-Cancelled-List", "cancelledCellinEAI")):  # fmt: skip
        for area in v.get(key, []):
            for item in area[cells]:
                out.append(CellReport(_ecgi_in(item["eCGI"]), item.get("numberOfBroadcasts")))
    return tuple(out)


def _bits(size: int) -> tuple[Callable[[int], Any], Callable[[Any], int]]:
    return (lambda n: (n, size)), (lambda v: int(v[0]))


def _same() -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    return (lambda x: x), (lambda x: x)


_TRUE: tuple[Callable[[bool], Any], Callable[[Any], bool]] = (lambda b: "true"), (lambda v: True)

# field -> (IE id, criticality, IE type name, to pycrate, from pycrate); a field absent from
# a PDU's dataclass is not part of it. Criticalities are TS 29.168's for each IE.
_IES: dict[str, tuple[int, str, str, Callable[[Any], Any], Callable[[Any], Any]]] = {
    "message_id": (5, "reject", "Message-Identifier", *_bits(16)),
    "serial": (11, "reject", "Serial-Number", *_bits(16)),
    "tais": (14, "reject", "List-of-TAIs", lambda ts: [{"tai": _tai_out(t)} for t in ts],
             lambda v: tuple(_tai_in(i["tai"]) for i in v)),
    "warning_area": (15, "ignore", "Warning-Area-List", _area_out, _area_in),
    "repetition_period": (10, "reject", "Repetition-Period", *_same()),
    "extended_repetition_period": (21, "reject", "Extended-Repetition-Period", *_same()),
    "broadcasts": (7, "reject", "Number-of-Broadcasts-Requested", *_same()),
    "warning_type": (18, "ignore", "Warning-Type", *_same()),
    "warning_security": (17, "ignore", "Warning-Security-Information", *_same()),
    "dcs": (3, "ignore", "Data-Coding-Scheme", *_bits(8)),
    "content": (16, "ignore", "Warning-Message-Content", *_same()),
    "omc_id": (19, "ignore", "Omc-Id", *_same()),
    "concurrent": (20, "reject", "Concurrent-Warning-Message-Indicator", *_TRUE),
    "cause": (1, "reject", "Cause", *_same()),
    "unknown_tais": (22, "ignore", "List-of-TAIs", lambda ts: [{"tai": _tai_out(t)} for t in ts],
                     lambda v: tuple(_tai_in(i["tai"]) for i in v)),
    "scheduled": (23, "reject", "Broadcast-Scheduled-Area-List", _scheduled_out, _reported_in),
    "cancelled": (25, "reject", "Broadcast-Cancelled-Area-List", _cancelled_out, _reported_in),
    "restarted": (30, "reject", "Restarted-Cell-List", lambda es: [_ecgi_out(e) for e in es],
                  lambda v: tuple(_ecgi_in(e) for e in v)),
    "enb": (28, "reject", "Global-ENB-ID", _enb_out, _enb_in),
    "failed": (33, "reject", "Failed-Cell-List", lambda es: [_ecgi_out(e) for e in es],
               lambda v: tuple(_ecgi_in(e) for e in v)),
    "emergency_areas": (32, "reject", "List-of-EAIs-Restart",
                        lambda ids: [i.to_bytes(3, "big") for i in ids],
                        lambda v: tuple(int.from_bytes(i, "big") for i in v)),
}  # fmt: skip
# Same field, other IE, by PDU: a request's send-indication flag, a restart's TAI list
_IE_OF = {
    (WriteReplaceWarningRequest, "send_indication"):
        (24, "ignore", "Send-Write-Replace-Warning-Indication", *_TRUE),
    (StopWarningRequest, "send_indication"):
        (26, "ignore", "Send-Stop-Warning-Indication", *_TRUE),
    (PwsRestartIndication, "tais"):
        (31, "reject", "List-of-TAIs-Restart", lambda ts: [{"tai": _tai_out(t)} for t in ts],
         lambda v: tuple(_tai_in(i["tai"]) for i in v)),
    (ErrorIndication, "cause"): (1, "ignore", "Cause", *_same()),
}  # fmt: skip
_BY_ID = {(ie[0], ie[2]): name for name, ie in _IES.items()}


IeSpec = tuple[int, str, str, Callable[..., Any], Callable[..., Any]]


def _ie(pdu_type: type[Any], name: str) -> IeSpec:
    return _IE_OF.get((pdu_type, name)) or _IES[name]


def _omitted(value: Any) -> bool:
    return value is None or value is False or value == ()


def encode(pdu: Pdu) -> bytes:
    code, kind, name = pdu.procedure
    ies = []
    for f in fields(pdu):
        value = getattr(pdu, f.name)
        if _omitted(value):
            continue
        ie_id, criticality, type_name, out, _ = _ie(type(pdu), f.name)
        ies.append({"id": ie_id, "criticality": criticality, "value": (type_name, out(value))})
    criticality = "ignore" if kind == "initiatingMessage" and code >= 2 else "reject"
    value = (kind, {"procedureCode": code, "criticality": criticality,
                    "value": (name, {"protocolIEs": ies})})  # fmt: skip
    with _LOCK:
        _PDU.set_val(value)
        return bytes(_PDU.to_aper())


def decode(data: bytes) -> Pdu:
    """The typed PDU; DecodeError for bytes that are not one, or one this codec lacks."""
    with _LOCK:
        try:
            _PDU.from_aper(data)
            kind, message = _PDU.get_val()
        except Exception as exc:  # pycrate raises its own and builtin errors alike
            raise DecodeError(f"not an SBc-AP PDU: {exc}") from None
    name, body = message["value"]
    pdu_type = _TYPES.get(name)
    if pdu_type is None or pdu_type.procedure[1] != kind:
        raise DecodeError(f"{kind} {name} is not served", cause=5)  # unrecognised-message
    wanted = {f.name for f in fields(pdu_type)}
    values: dict[str, Any] = {}
    for ie in body["protocolIEs"]:
        type_name = ie["value"][0]
        name_of = next((n for (t, n) in _IE_OF if t is pdu_type and _IE_OF[(t, n)][0] == ie["id"]),
                       None) or _BY_ID.get((ie["id"], type_name))  # fmt: skip
        if name_of is None or name_of not in wanted:
            continue  # an IE we do not use (criticality ignore, or an extension)
        values[name_of] = _ie(pdu_type, name_of)[4](ie["value"][1])
    try:
        return pdu_type(**values)  # type: ignore[no-any-return]
    except TypeError as exc:
        raise DecodeError(f"{name}: {exc}", cause=6) from None  # missing-mandatory-element


__all__ = [
    "PORT", "PPID", "CellReport", "DecodeError", "Ecgi", "EnbId", "ErrorIndication", "Pdu",
    "PwsFailureIndication", "PwsRestartIndication", "StopWarningIndication",
    "StopWarningRequest", "StopWarningResponse", "Tai", "WarningArea",
    "WriteReplaceWarningIndication", "WriteReplaceWarningRequest",
    "WriteReplaceWarningResponse", "decode", "encode",
]  # fmt: skip
