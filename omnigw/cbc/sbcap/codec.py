"""SBc-AP (TS 29.168) PDUs as types, in APER through pycrate's compilation of the 3GPP ASN.1
(`asn.py`, written by scripts/sbcap-asn.sh).

Each PDU type names its procedure, and each field the IE that carries it and how its value
is written: `_IES` is the whole mapping, so adding an IE is one row. The PDU framing and the
per-cell lists are `aper.py`'s; pycrate writes and reads every other IE value. pycrate's
objects are one per process: they are used under a lock, from start to finish of a
message, so threads (a test's executor, a helper) cannot interleave.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any, ClassVar, NamedTuple

from omnigw.cbc.sbcap import aper, asn

PPID = 24  # SCTP payload protocol identifier of SBc-AP
PORT = 29168

_LOCK = threading.Lock()  # pycrate's IE objects are one per process


class DecodeError(ValueError):
    """Not an SBc-AP PDU this codec knows; `cause` is the SBc-AP Cause to answer with."""

    def __init__(self, reason: str, cause: int = 13, procedure: str | None = None) -> None:
        super().__init__(reason)
        self.cause = cause  # 13: transfer-syntax-error
        self.procedure = procedure  # the PDU's type name, when the framing got that far


# --- identities ----------------------------------------------------------------------------


@lru_cache(maxsize=256)
def plmn_bytes(plmn: str) -> bytes:
    """'mcc-mnc' as TBCD (TS 24.008 10.5.1.3): the filler F for a two-digit MNC."""
    mcc, mnc = plmn.split("-")
    d = [int(c) for c in mcc] + [int(c) for c in mnc] + ([0xF] if len(mnc) == 2 else [])
    return bytes([d[1] << 4 | d[0], (d[5] if len(mnc) == 3 else 0xF) << 4 | d[2],
                  d[4] << 4 | d[3]])  # fmt: skip


@lru_cache(maxsize=256)
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


class CellReport(NamedTuple):
    """A cell an MME reports a warning scheduled or cancelled in; `broadcasts` when counted.
    A named tuple: an indication can name 20,000 of them, and these are made fastest."""

    plmn: str
    eci: int
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
    return {"cellId-Broadcast-List": [{"eCGI": _ecgi_out(Ecgi(c.plmn, c.eci))} for c in cells]}


def _cancelled_out(cells: tuple[CellReport, ...]) -> dict[str, Any]:
    items = [{"eCGI": _ecgi_out(Ecgi(c.plmn, c.eci)), "numberOfBroadcasts": c.broadcasts or 0}
             for c in cells]  # fmt: skip
    return {"cellID-Cancelled-List": items}


def _reported_in(v: dict[str, Any]) -> tuple[CellReport, ...]:
    """Every cell of a Broadcast-Scheduled- or -Cancelled-Area-List, whichever form it took."""
    out: list[CellReport] = []
    for item in v.get("cellId-Broadcast-List", []) + v.get("cellID-Cancelled-List", []):
        ecgi = _ecgi_in(item["eCGI"])
        out.append(CellReport(ecgi.plmn, ecgi.eci, item.get("numberOfBroadcasts")))
    for key, cells in (("tAI-Broadcast-List", "scheduledCellinTAI"),
                       ("tAI-Cancelled-List", "cancelledCellinTAI"),
                       ("emergencyAreaID-Broadcast-List", "scheduledCellinEAI"),
                       ("emergencyAreaID-Cancelled-List", "cancelledCellinEAI")):  # fmt: skip
        for area in v.get(key, []):
            for item in area[cells]:
                ecgi = _ecgi_in(item["eCGI"])
                out.append(CellReport(ecgi.plmn, ecgi.eci, item.get("numberOfBroadcasts")))
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
IeSpec = tuple[int, str, str, Callable[..., Any], Callable[..., Any]]


def _ie(pdu_type: type[Any], name: str) -> IeSpec:
    return _IE_OF.get((pdu_type, name)) or _IES[name]


_BY_ID: dict[type[Any], dict[int, str]] = {
    t: {_ie(t, f.name)[0]: f.name for f in fields(t)} for t in _TYPES.values()
}


def _pycrate(type_name: str) -> Any:
    """pycrate's object for an IE type: one per process, used under _LOCK."""
    return getattr(asn.SBC_AP_IEs, type_name.replace("-", "_"))


def _omitted(value: Any) -> bool:
    return value is None or value is False or value == ()


def _lean_area(area: WarningArea) -> bytes:
    if area.ecgis:
        return aper.ecgi_list([(plmn_bytes(e.plmn), e.eci) for e in area.ecgis])
    if area.tais:
        return aper.tai_list([(plmn_bytes(t.plmn), t.tac) for t in area.tais])
    return aper.emergency_area_list(list(area.emergency_areas))


def encode(pdu: Pdu) -> bytes:
    code, kind, _ = pdu.procedure
    ies: list[tuple[int, str, bytes]] = []
    with _LOCK:
        for f in fields(pdu):
            value = getattr(pdu, f.name)
            if _omitted(value):
                continue
            ie_id, criticality, type_name, out, _ = _ie(type(pdu), f.name)
            if f.name == "warning_area":  # one entry per cell: the lean path
                ies.append((ie_id, criticality, _lean_area(value)))
                continue
            if f.name in ("scheduled", "cancelled"):
                cells = [(plmn_bytes(c.plmn), c.eci, c.broadcasts or 0) for c in value]
                ies.append((ie_id, criticality, aper.cell_reports(cells, f.name == "cancelled")))
                continue
            obj = _pycrate(type_name)
            obj.set_val(out(value))
            ies.append((ie_id, criticality, bytes(obj.to_aper())))
    criticality = "ignore" if kind == "initiatingMessage" and code >= 2 else "reject"
    return aper.pdu(kind, code, criticality, ies)


def _lean_reports(raw: bytes, counted: bool) -> tuple[CellReport, ...] | None:
    cells = aper.read_cell_reports(raw, counted)
    if cells is None:
        return None
    return tuple(CellReport(plmn_text(p), eci, n) for p, eci, n in cells)


def off_spec(pdu: Pdu, data: bytes) -> list[str]:
    """What in a decoded PDU's framing is not as TS 29.168 has it but was read anyway: IEs
    marked with another criticality (some MMEs mark Cause `ignore`)."""
    expected = {_ie(type(pdu), f.name)[0]: _ie(type(pdu), f.name)[1] for f in fields(pdu)}
    return [
        f"{_ie(type(pdu), name)[2]} marked {got} instead of {expected[ie_id]}"
        for ie_id, got in aper.criticalities(data)
        if (name := _BY_ID[type(pdu)].get(ie_id)) is not None and got != expected[ie_id]
    ]


class Report(NamedTuple):
    """A Write-Replace-Warning-Indication (`scheduled`) or Stop-Warning-Indication read only
    as far as routing and counting need: an MME sends one per batch of eNB answers, a
    million cells for a PLMN-wide alert, and the cells themselves are read when someone
    asks for the alert's status (see results.py)."""

    kind: str  # scheduled | stopped
    message_id: int
    serial: int
    cells: int


_REPORTS = {3: ("scheduled", 23, False), 4: ("stopped", 25, True)}  # procedure -> kind, IE


def peek_report(data: bytes) -> Report | None:
    """The indication's reference and cell count; None when `data` is another PDU, or an
    indication in a form only `decode` reads (tracking or emergency areas)."""
    if len(data) < 2 or data[0] >> 5 != 0 or data[1] not in _REPORTS:
        return None
    try:
        _, code, ies = aper.read_pdu(data)
        kind, list_id, counted = _REPORTS[code]
        found = dict(ies)
        cells = aper.count_cell_reports(found[list_id], counted)
        message_id, serial = found[5], found[11]
    except KeyError:
        return None  # a missing IE: decode says which
    except aper.AperError as exc:
        raise DecodeError(f"not an SBc-AP PDU: {exc}") from None
    if cells is None or len(message_id) != 2 or len(serial) != 2:
        return None
    return Report(kind, int.from_bytes(message_id, "big"), int.from_bytes(serial, "big"), cells)


def decode(data: bytes) -> Pdu:
    """The typed PDU; DecodeError for bytes that are not one, or one this codec lacks."""
    try:
        kind, code, ies = aper.read_pdu(data)
    except aper.AperError as exc:
        raise DecodeError(f"not an SBc-AP PDU: {exc}") from None
    pdu_type = next((t for t in _TYPES.values() if t.procedure[:2] == (code, kind)), None)
    if pdu_type is None:
        raise DecodeError(f"{kind} of procedure {code} is not served", cause=5)
    names = _BY_ID[pdu_type]
    values: dict[str, Any] = {}
    with _LOCK:
        for ie_id, raw in ies:
            name = names.get(ie_id)
            if name is None:
                continue  # an IE we do not use
            if name in ("scheduled", "cancelled"):
                lean = _lean_reports(raw, counted=name == "cancelled")
                if lean is not None:
                    values[name] = lean
                    continue
            _, _, type_name, _, into = _ie(pdu_type, name)
            obj = _pycrate(type_name)
            try:
                obj.from_aper(raw)
                values[name] = into(obj.get_val())
            except Exception as exc:  # pycrate raises its own and builtin errors alike
                raise DecodeError(f"{type_name}: {exc}", procedure=pdu_type.procedure[2]) from None
    try:
        return pdu_type(**values)  # type: ignore[no-any-return]
    except TypeError as exc:
        name = pdu_type.procedure[2]
        raise DecodeError(f"{name}: {exc}", cause=6, procedure=name) from None


__all__ = [
    "PORT", "PPID", "CellReport", "DecodeError", "Ecgi", "EnbId", "ErrorIndication", "Pdu",
    "PwsFailureIndication", "PwsRestartIndication", "Report", "StopWarningIndication",
    "StopWarningRequest", "StopWarningResponse", "Tai", "WarningArea",
    "WriteReplaceWarningIndication", "WriteReplaceWarningRequest",
    "WriteReplaceWarningResponse", "decode", "encode", "off_spec", "peek_report",
]  # fmt: skip
