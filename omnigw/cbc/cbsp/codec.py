"""CBSP (TS 48.049) encode/decode: every message type, every IE, every cell discriminator.

Pure: bytes in, `Pdu` out and back. A `DecodeError` carries the TS 48.049 8.2.13
cause so the link can answer with an ERROR INDICATION that names it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import Any

from omnigw.cbc.cells import CellId
from omnigw.cbc.messages import Category

HEADER = 4  # message type (1) + length (3)
MAX_LENGTH = 1 << 16  # far above the largest legal PDU (15 pages: ~1.4 KB)
PAGE_OCTETS = 82


class MsgType(IntEnum):
    WRITE_REPLACE = 0x01
    WRITE_REPLACE_COMPLETE = 0x02
    WRITE_REPLACE_FAILURE = 0x03
    KILL = 0x04
    KILL_COMPLETE = 0x05
    KILL_FAILURE = 0x06
    LOAD_QUERY = 0x07
    LOAD_QUERY_COMPLETE = 0x08
    LOAD_QUERY_FAILURE = 0x09
    MSG_STATUS_QUERY = 0x0A
    MSG_STATUS_QUERY_COMPLETE = 0x0B
    MSG_STATUS_QUERY_FAILURE = 0x0C
    SET_DRX = 0x0D
    SET_DRX_COMPLETE = 0x0E
    SET_DRX_FAILURE = 0x0F
    RESET = 0x10
    RESET_COMPLETE = 0x11
    RESET_FAILURE = 0x12
    RESTART = 0x13
    FAILURE = 0x14
    ERROR_INDICATION = 0x15
    KEEP_ALIVE = 0x16
    KEEP_ALIVE_COMPLETE = 0x17


class Iei(IntEnum):
    MSG_CONTENT = 0x01
    OLD_SERIAL = 0x02
    NEW_SERIAL = 0x03
    CELL_LIST = 0x04
    CATEGORY = 0x05
    REPETITION_PERIOD = 0x06
    BROADCASTS_REQUESTED = 0x07
    COMPLETED_LIST = 0x08
    FAILURE_LIST = 0x09
    LOADING_LIST = 0x0A
    CAUSE = 0x0B
    DCS = 0x0C
    RECOVERY = 0x0D
    MESSAGE_ID = 0x0E
    EMERGENCY = 0x0F
    WARNING_TYPE = 0x10
    WARNING_SECURITY = 0x11
    CHANNEL = 0x12
    NUMBER_OF_PAGES = 0x13
    SCHEDULE_PERIOD = 0x14
    RESERVED_SLOTS = 0x15
    BROADCAST_TYPE = 0x16
    WARNING_PERIOD = 0x17
    KEEPALIVE_PERIOD = 0x18


class Cause(IntEnum):
    """TS 48.049 8.2.13."""

    PARAM_NOT_RECOGNISED = 0x00
    PARAM_VALUE_INVALID = 0x01
    MSG_REF_NOT_IDENTIFIED = 0x02
    CELL_ID_NOT_VALID = 0x03
    UNRECOGNISED_MESSAGE = 0x04
    MISSING_MANDATORY_IE = 0x05
    BSC_CAPACITY_EXCEEDED = 0x06
    CELL_MEMORY_EXCEEDED = 0x07
    BSC_MEMORY_EXCEEDED = 0x08
    CB_NOT_SUPPORTED = 0x09
    CB_NOT_OPERATIONAL = 0x0A
    INCOMPATIBLE_DRX = 0x0B
    EXT_CHANNEL_NOT_SUPPORTED = 0x0C
    MSG_REF_ALREADY_USED = 0x0D
    UNSPECIFIED = 0x0E
    LAI_OR_LAC_NOT_VALID = 0x0F


class Discriminator(IntEnum):
    """Cell identification discriminator (TS 48.049 8.2.6)."""

    CGI = 0x0
    LAC_CI = 0x1
    CI = 0x2
    LAI = 0x4
    LAC = 0x5
    ALL_IN_BSC = 0x6


class DecodeError(Exception):
    """A malformed or unacceptable PDU; `cause` is what the ERROR INDICATION says."""

    def __init__(self, cause: Cause, reason: str, pdu: Pdu | None = None) -> None:
        super().__init__(reason)
        self.cause = cause
        self.reason = reason
        self.pdu = pdu  # what could be read, to echo message id / serials


@dataclass(frozen=True, slots=True)
class CellList:
    discriminator: Discriminator
    cells: tuple[CellId, ...] = ()


@dataclass(frozen=True, slots=True)
class CellFailure:
    discriminator: Discriminator
    cell: CellId
    cause: Cause


@dataclass(frozen=True, slots=True)
class CellCount:
    cell: CellId
    completed: int
    info: int = 0  # 0 valid, 1 overflow, 2 unknown (8.2.9)


@dataclass(frozen=True, slots=True)
class CellLoad:
    cell: CellId
    load1: int
    load2: int


@dataclass(frozen=True, slots=True)
class Content:
    """One CBS page: 82 octets and how many of them carry text."""

    data: bytes
    length: int


@dataclass(frozen=True, slots=True)
class Pdu:
    type: MsgType
    message_id: int | None = None
    new_serial: int | None = None
    old_serial: int | None = None
    cell_list: CellList | None = None
    channel: int | None = None
    category: Category | None = None
    repetition_period: int | None = None  # units of 1.883 s, 1..4095
    broadcasts_requested: int | None = None  # 0 = until stopped
    number_of_pages: int | None = None
    dcs: int | None = None
    content: tuple[Content, ...] = ()
    emergency: int | None = None
    warning_type: int | None = None
    warning_security: bytes | None = None
    warning_period: int | None = None  # seconds
    completed_discriminator: Discriminator | None = None
    completed: tuple[CellCount, ...] | None = None
    failures: tuple[CellFailure, ...] | None = None
    loading_discriminator: Discriminator | None = None
    loading: tuple[CellLoad, ...] | None = None
    cause: Cause | None = None
    recovery: int | None = None
    schedule_period: int | None = None
    reserved_slots: int | None = None
    broadcast_type: int | None = None  # 0 CBS, 1 emergency
    keepalive_period: int | None = None  # seconds

    @property
    def is_emergency(self) -> bool:
        return self.warning_type is not None


# Which IEs each message carries, in the order TS 48.049 chapter 7 lists them.
_ORDER: dict[MsgType, tuple[Iei, ...]] = {
    MsgType.WRITE_REPLACE: (
        Iei.MESSAGE_ID, Iei.NEW_SERIAL, Iei.OLD_SERIAL, Iei.CELL_LIST, Iei.CHANNEL,
        Iei.CATEGORY, Iei.REPETITION_PERIOD, Iei.BROADCASTS_REQUESTED, Iei.NUMBER_OF_PAGES,
        Iei.DCS, Iei.MSG_CONTENT, Iei.EMERGENCY, Iei.WARNING_TYPE, Iei.WARNING_SECURITY,
        Iei.WARNING_PERIOD,
    ),
    MsgType.WRITE_REPLACE_COMPLETE: (
        Iei.MESSAGE_ID, Iei.NEW_SERIAL, Iei.OLD_SERIAL, Iei.COMPLETED_LIST, Iei.CELL_LIST,
        Iei.CHANNEL,
    ),
    MsgType.WRITE_REPLACE_FAILURE: (
        Iei.MESSAGE_ID, Iei.NEW_SERIAL, Iei.OLD_SERIAL, Iei.FAILURE_LIST, Iei.COMPLETED_LIST,
        Iei.CELL_LIST, Iei.CHANNEL,
    ),
    MsgType.KILL: (Iei.MESSAGE_ID, Iei.OLD_SERIAL, Iei.CELL_LIST, Iei.CHANNEL),
    MsgType.KILL_COMPLETE: (
        Iei.MESSAGE_ID, Iei.OLD_SERIAL, Iei.COMPLETED_LIST, Iei.CELL_LIST, Iei.CHANNEL,
    ),
    MsgType.KILL_FAILURE: (
        Iei.MESSAGE_ID, Iei.OLD_SERIAL, Iei.FAILURE_LIST, Iei.COMPLETED_LIST, Iei.CELL_LIST,
        Iei.CHANNEL,
    ),
    MsgType.LOAD_QUERY: (Iei.CELL_LIST, Iei.CHANNEL),
    MsgType.LOAD_QUERY_COMPLETE: (Iei.LOADING_LIST, Iei.CHANNEL),
    MsgType.LOAD_QUERY_FAILURE: (Iei.FAILURE_LIST, Iei.CHANNEL, Iei.LOADING_LIST),
    MsgType.MSG_STATUS_QUERY: (Iei.MESSAGE_ID, Iei.OLD_SERIAL, Iei.CELL_LIST, Iei.CHANNEL),
    MsgType.MSG_STATUS_QUERY_COMPLETE: (
        Iei.MESSAGE_ID, Iei.OLD_SERIAL, Iei.COMPLETED_LIST, Iei.CHANNEL,
    ),
    MsgType.MSG_STATUS_QUERY_FAILURE: (
        Iei.MESSAGE_ID, Iei.OLD_SERIAL, Iei.FAILURE_LIST, Iei.CHANNEL, Iei.COMPLETED_LIST,
    ),
    MsgType.SET_DRX: (Iei.CELL_LIST, Iei.SCHEDULE_PERIOD, Iei.RESERVED_SLOTS, Iei.CHANNEL),
    MsgType.SET_DRX_COMPLETE: (Iei.CELL_LIST, Iei.CHANNEL),
    MsgType.SET_DRX_FAILURE: (Iei.FAILURE_LIST, Iei.CHANNEL),
    MsgType.RESET: (Iei.CELL_LIST,),
    MsgType.RESET_COMPLETE: (Iei.CELL_LIST,),
    MsgType.RESET_FAILURE: (Iei.FAILURE_LIST, Iei.CELL_LIST),
    MsgType.RESTART: (Iei.CELL_LIST, Iei.BROADCAST_TYPE, Iei.RECOVERY),
    MsgType.FAILURE: (Iei.CELL_LIST, Iei.BROADCAST_TYPE),
    MsgType.ERROR_INDICATION: (
        Iei.CAUSE, Iei.MESSAGE_ID, Iei.NEW_SERIAL, Iei.OLD_SERIAL, Iei.CHANNEL,
    ),
    MsgType.KEEP_ALIVE: (Iei.KEEPALIVE_PERIOD,),
    MsgType.KEEP_ALIVE_COMPLETE: (),
}  # fmt: skip

_MANDATORY: dict[MsgType, tuple[Iei, ...]] = {
    MsgType.WRITE_REPLACE: (Iei.MESSAGE_ID, Iei.NEW_SERIAL, Iei.CELL_LIST),
    MsgType.WRITE_REPLACE_COMPLETE: (Iei.MESSAGE_ID, Iei.NEW_SERIAL),
    MsgType.WRITE_REPLACE_FAILURE: (Iei.MESSAGE_ID, Iei.NEW_SERIAL, Iei.FAILURE_LIST),
    MsgType.KILL: (Iei.MESSAGE_ID, Iei.OLD_SERIAL, Iei.CELL_LIST),
    MsgType.KILL_COMPLETE: (Iei.MESSAGE_ID, Iei.OLD_SERIAL),
    MsgType.KILL_FAILURE: (Iei.MESSAGE_ID, Iei.OLD_SERIAL, Iei.FAILURE_LIST),
    MsgType.LOAD_QUERY: (Iei.CELL_LIST, Iei.CHANNEL),
    MsgType.LOAD_QUERY_COMPLETE: (Iei.LOADING_LIST, Iei.CHANNEL),
    MsgType.LOAD_QUERY_FAILURE: (Iei.FAILURE_LIST, Iei.CHANNEL),
    MsgType.MSG_STATUS_QUERY: (Iei.MESSAGE_ID, Iei.OLD_SERIAL, Iei.CELL_LIST, Iei.CHANNEL),
    MsgType.MSG_STATUS_QUERY_COMPLETE: (
        Iei.MESSAGE_ID, Iei.OLD_SERIAL, Iei.COMPLETED_LIST, Iei.CHANNEL,
    ),
    MsgType.MSG_STATUS_QUERY_FAILURE: (
        Iei.MESSAGE_ID, Iei.OLD_SERIAL, Iei.FAILURE_LIST, Iei.CHANNEL,
    ),
    MsgType.SET_DRX: (Iei.CELL_LIST, Iei.CHANNEL),
    MsgType.SET_DRX_COMPLETE: (Iei.CELL_LIST, Iei.CHANNEL),
    MsgType.SET_DRX_FAILURE: (Iei.FAILURE_LIST, Iei.CHANNEL),
    MsgType.RESET: (Iei.CELL_LIST,),
    MsgType.RESET_COMPLETE: (Iei.CELL_LIST,),
    MsgType.RESET_FAILURE: (Iei.FAILURE_LIST,),
    MsgType.RESTART: (Iei.CELL_LIST, Iei.BROADCAST_TYPE, Iei.RECOVERY),
    MsgType.FAILURE: (Iei.CELL_LIST, Iei.BROADCAST_TYPE),
    MsgType.ERROR_INDICATION: (Iei.CAUSE,),
    MsgType.KEEP_ALIVE: (Iei.KEEPALIVE_PERIOD,),
    MsgType.KEEP_ALIVE_COMPLETE: (),
}  # fmt: skip

_CBS_MANDATORY = (Iei.CATEGORY, Iei.REPETITION_PERIOD, Iei.BROADCASTS_REQUESTED,
                  Iei.NUMBER_OF_PAGES, Iei.DCS, Iei.MSG_CONTENT)  # fmt: skip
_EMERGENCY_MANDATORY = (Iei.EMERGENCY, Iei.WARNING_TYPE, Iei.WARNING_SECURITY,
                        Iei.WARNING_PERIOD)  # fmt: skip

# IE -> the Pdu attribute holding it
_ATTR = {
    Iei.MESSAGE_ID: "message_id", Iei.NEW_SERIAL: "new_serial", Iei.OLD_SERIAL: "old_serial",
    Iei.CELL_LIST: "cell_list", Iei.CHANNEL: "channel", Iei.CATEGORY: "category",
    Iei.REPETITION_PERIOD: "repetition_period", Iei.BROADCASTS_REQUESTED: "broadcasts_requested",
    Iei.NUMBER_OF_PAGES: "number_of_pages", Iei.DCS: "dcs", Iei.MSG_CONTENT: "content",
    Iei.EMERGENCY: "emergency", Iei.WARNING_TYPE: "warning_type",
    Iei.WARNING_SECURITY: "warning_security", Iei.WARNING_PERIOD: "warning_period",
    Iei.COMPLETED_LIST: "completed", Iei.FAILURE_LIST: "failures", Iei.LOADING_LIST: "loading",
    Iei.CAUSE: "cause", Iei.RECOVERY: "recovery", Iei.SCHEDULE_PERIOD: "schedule_period",
    Iei.RESERVED_SLOTS: "reserved_slots", Iei.BROADCAST_TYPE: "broadcast_type",
    Iei.KEEPALIVE_PERIOD: "keepalive_period",
}  # fmt: skip

_U16 = {Iei.MESSAGE_ID, Iei.NEW_SERIAL, Iei.OLD_SERIAL, Iei.REPETITION_PERIOD,
        Iei.BROADCASTS_REQUESTED, Iei.WARNING_TYPE}  # fmt: skip
_U8 = {Iei.CHANNEL, Iei.CATEGORY, Iei.NUMBER_OF_PAGES, Iei.DCS, Iei.EMERGENCY, Iei.CAUSE,
       Iei.RECOVERY, Iei.SCHEDULE_PERIOD, Iei.RESERVED_SLOTS, Iei.BROADCAST_TYPE}  # fmt: skip
_LISTS = {Iei.CELL_LIST, Iei.COMPLETED_LIST, Iei.FAILURE_LIST, Iei.LOADING_LIST}
_PERIODS = {Iei.WARNING_PERIOD, Iei.KEEPALIVE_PERIOD}


# --- 8.2.25 warning period / 8.2.26 keep-alive repetition period ------------------


def period_seconds(code: int) -> int:
    """Seconds for a period code: 1 s steps to 10 s, 2 s to 30, 5 s to 120, 10 s to 600, 60 s."""
    if code <= 0x0A:
        return code
    if code <= 0x14:
        return 10 + (code - 0x0A) * 2
    if code <= 0x26:
        return 30 + (code - 0x14) * 5
    if code <= 0x56:
        return 120 + (code - 0x26) * 10
    if code <= 0xBA:
        return 600 + (code - 0x56) * 60
    raise ValueError(f"period code {code:#x} is reserved")


def period_code(seconds: int) -> int:
    """The smallest code whose period is at least `seconds` (capped at the largest)."""
    for code in range(0xBB):
        if period_seconds(code) >= seconds:
            return code
    return 0xBA


# --- cell identifiers ----------------------------------------------------------------


def _plmn_encode(mcc: str, mnc: str) -> bytes:
    """TS 24.008 10.5.1.3 BCD: MCC digits, MNC digits (3rd MNC digit or F)."""
    if not (len(mcc) == 3 and mcc.isdigit() and len(mnc) in (2, 3) and mnc.isdigit()):
        raise ValueError(f"invalid PLMN {mcc}-{mnc}")
    d = [int(c) for c in mcc]
    m = [int(c) for c in mnc]
    mnc3 = m[2] if len(m) == 3 else 0xF
    return bytes([(d[1] << 4) | d[0], (mnc3 << 4) | d[2], (m[1] << 4) | m[0]])


def _plmn_decode(data: bytes) -> tuple[str, str]:
    digits = [data[0] & 0xF, data[0] >> 4, data[1] & 0xF, data[2] & 0xF, data[2] >> 4]
    if any(x > 9 for x in digits):
        raise ValueError("PLMN digit out of range")
    mcc = "".join(str(x) for x in digits[:3])
    mnc = f"{digits[3]}{digits[4]}"
    if data[1] >> 4 != 0xF:
        if data[1] >> 4 > 9:
            raise ValueError("PLMN digit out of range")
        mnc += str(data[1] >> 4)
    return mcc, mnc


_CELL_LEN = {
    Discriminator.CGI: 7,
    Discriminator.LAC_CI: 4,
    Discriminator.CI: 2,
    Discriminator.LAI: 5,
    Discriminator.LAC: 2,
    Discriminator.ALL_IN_BSC: 0,
}


def _cell_encode(disc: Discriminator, cell: CellId) -> bytes:
    try:
        if disc in (Discriminator.CGI, Discriminator.LAI):
            out = _plmn_encode(cell.mcc or "", cell.mnc or "") + struct.pack(">H", cell.lac)
            return out + struct.pack(">H", cell.ci) if disc is Discriminator.CGI else out
        if disc is Discriminator.LAC_CI:
            return struct.pack(">HH", cell.lac, cell.ci)
        if disc is Discriminator.CI:
            return struct.pack(">H", cell.ci)
        if disc is Discriminator.LAC:
            return struct.pack(">H", cell.lac)
    except struct.error as exc:
        raise ValueError(f"cell {cell}: {exc}") from None
    return b""


def _cell_decode(disc: Discriminator, data: bytes) -> CellId:
    if disc is Discriminator.CGI:
        mcc, mnc = _plmn_decode(data[:3])
        lac, ci = struct.unpack(">HH", data[3:7])
        return CellId(mcc, mnc, lac, ci)
    if disc is Discriminator.LAI:
        mcc, mnc = _plmn_decode(data[:3])
        return CellId(mcc, mnc, struct.unpack(">H", data[3:5])[0])
    if disc is Discriminator.LAC_CI:
        lac, ci = struct.unpack(">HH", data[:4])
        return CellId(lac=lac, ci=ci)
    if disc is Discriminator.CI:
        return CellId(ci=struct.unpack(">H", data[:2])[0])
    if disc is Discriminator.LAC:
        return CellId(lac=struct.unpack(">H", data[:2])[0])
    return CellId()


def _discriminator(octet: int) -> Discriminator:
    try:
        return Discriminator(octet & 0x0F)
    except ValueError:
        raise DecodeError(
            Cause.PARAM_VALUE_INVALID, f"unknown cell discriminator {octet & 0xF}"
        ) from None


# --- encoding ------------------------------------------------------------------------


def _list_value(iei: Iei, pdu: Pdu) -> bytes:
    if iei is Iei.CELL_LIST:
        assert pdu.cell_list is not None
        disc = pdu.cell_list.discriminator
        return bytes([disc]) + b"".join(_cell_encode(disc, c) for c in pdu.cell_list.cells)
    if iei is Iei.FAILURE_LIST:
        return b"".join(
            bytes([f.discriminator]) + _cell_encode(f.discriminator, f.cell) + bytes([f.cause])
            for f in pdu.failures or ()
        )
    if iei is Iei.COMPLETED_LIST:
        disc = pdu.completed_discriminator or Discriminator.CGI
        return bytes([disc]) + b"".join(
            _cell_encode(disc, c.cell) + struct.pack(">HB", c.completed, c.info)
            for c in pdu.completed or ()
        )
    disc = pdu.loading_discriminator or Discriminator.CGI
    return bytes([disc]) + b"".join(
        _cell_encode(disc, c.cell) + bytes([c.load1, c.load2]) for c in pdu.loading or ()
    )


def encode(pdu: Pdu) -> bytes:
    """The PDU as it goes on the wire (header included)."""
    body = bytearray()
    for iei in _ORDER[pdu.type]:
        value = getattr(pdu, _ATTR[iei])
        if iei is Iei.MSG_CONTENT:
            for page in pdu.content:
                if len(page.data) != PAGE_OCTETS or not 0 <= page.length <= PAGE_OCTETS:
                    raise ValueError("message content: a page is 82 octets")
                body += bytes([iei, page.length]) + page.data
            continue
        if iei is Iei.NUMBER_OF_PAGES and value is None and pdu.content:
            value = len(pdu.content)
        if value is None:
            continue
        if iei in _LISTS:
            data = _list_value(iei, pdu)
            body += struct.pack(">BH", iei, len(data)) + data
        elif iei in _U16:
            body += struct.pack(">BH", iei, value)
        elif iei in _U8:
            body += bytes([iei, value])
        elif iei in _PERIODS:
            body += bytes([iei, period_code(value)])
        elif iei is Iei.WARNING_SECURITY:
            if len(value) != 50:
                raise ValueError("warning security information is 50 octets")
            body += bytes([iei]) + value
    if len(body) >= MAX_LENGTH:
        raise ValueError("PDU too large")
    return bytes([pdu.type]) + len(body).to_bytes(3, "big") + bytes(body)


# --- decoding ------------------------------------------------------------------------


def frame_length(buffer: bytes | bytearray) -> int | None:
    """Total length of the first PDU in `buffer`, or None until the header is complete.

    Raises DecodeError when the length cannot be legal: the stream cannot be
    resynchronised after that, so the link must close.
    """
    if len(buffer) < HEADER:
        return None
    length = int.from_bytes(buffer[1:4], "big")
    if length >= MAX_LENGTH:
        raise DecodeError(Cause.PARAM_VALUE_INVALID, f"message length {length} too large")
    return HEADER + length


def _read_list(iei: Iei, data: bytes) -> dict[str, Any]:
    if iei is Iei.FAILURE_LIST:
        failures, pos = [], 0
        while pos < len(data):
            disc = _discriminator(data[pos])
            size = _CELL_LEN[disc]
            if pos + 1 + size + 1 > len(data):
                raise DecodeError(Cause.PARAM_VALUE_INVALID, "failure list truncated")
            cell = _cell_decode(disc, data[pos + 1 : pos + 1 + size])
            raw_cause = data[pos + 1 + size]
            try:
                cause = Cause(raw_cause)
            except ValueError:
                cause = Cause.UNSPECIFIED
            failures.append(CellFailure(disc, cell, cause))
            pos += size + 2
        return {"failures": tuple(failures)}
    if not data:
        raise DecodeError(Cause.PARAM_VALUE_INVALID, f"{iei.name.lower()}: empty")
    disc = _discriminator(data[0])
    size = _CELL_LEN[disc]
    extra = {Iei.CELL_LIST: 0, Iei.COMPLETED_LIST: 3, Iei.LOADING_LIST: 2}[iei]
    step = size + extra
    items = data[1:]
    if step == 0:
        if items:
            raise DecodeError(Cause.PARAM_VALUE_INVALID, "all-cells list carries cells")
        entries: list[bytes] = []
    else:
        if len(items) % step:
            raise DecodeError(Cause.PARAM_VALUE_INVALID, f"{iei.name.lower()}: bad length")
        entries = [items[i : i + step] for i in range(0, len(items), step)]
    if iei is Iei.CELL_LIST:
        return {"cell_list": CellList(disc, tuple(_cell_decode(disc, e) for e in entries))}
    if iei is Iei.COMPLETED_LIST:
        counts = tuple(
            CellCount(_cell_decode(disc, e), *struct.unpack(">HB", e[size:])) for e in entries
        )
        return {"completed_discriminator": disc, "completed": counts}
    loads = tuple(CellLoad(_cell_decode(disc, e), e[size], e[size + 1]) for e in entries)
    return {"loading_discriminator": disc, "loading": loads}


def _fixed_length(iei: Iei) -> int:
    if iei in _U16:
        return 2
    if iei is Iei.WARNING_SECURITY:
        return 50
    if iei is Iei.MSG_CONTENT:
        return 83
    return 1


def _header(frame: bytes) -> MsgType:
    """The message type, once the header is known to be sound."""
    if len(frame) < HEADER:
        raise DecodeError(Cause.PARAM_VALUE_INVALID, "shorter than the header")
    try:
        msg_type = MsgType(frame[0])
    except ValueError:
        raise DecodeError(
            Cause.UNRECOGNISED_MESSAGE, f"unknown message type {frame[0]:#04x}"
        ) from None
    if int.from_bytes(frame[1:4], "big") != len(frame) - HEADER:
        raise DecodeError(Cause.PARAM_VALUE_INVALID, "length field does not match")
    return msg_type


def decode(frame: bytes) -> Pdu:
    """One whole PDU (as delimited by `frame_length`) to a `Pdu`."""
    msg_type = _header(frame)
    values: dict[str, Any] = {}
    seen: set[Iei] = set()
    pages: list[Content] = []
    pos = HEADER
    partial = Pdu(msg_type)
    while pos < len(frame):
        try:
            iei = Iei(frame[pos])
        except ValueError:
            raise DecodeError(
                Cause.PARAM_NOT_RECOGNISED, f"unknown IE {frame[pos]:#04x}", partial
            ) from None
        pos += 1
        try:
            if iei in _LISTS:
                (size,) = struct.unpack_from(">H", frame, pos)
                pos += 2
                if pos + size > len(frame):
                    raise DecodeError(Cause.PARAM_VALUE_INVALID, f"{iei.name.lower()} truncated")
                values.update(_read_list(iei, frame[pos : pos + size]))
            else:
                size = _fixed_length(iei)
                if pos + size > len(frame):
                    raise DecodeError(Cause.PARAM_VALUE_INVALID, f"{iei.name.lower()} truncated")
                raw = frame[pos : pos + size]
                if iei is Iei.MSG_CONTENT:
                    if raw[0] > PAGE_OCTETS:
                        raise DecodeError(Cause.PARAM_VALUE_INVALID, "page length above 82")
                    pages.append(Content(raw[1:], raw[0]))
                elif iei in _U16:
                    values[_ATTR[iei]] = struct.unpack(">H", raw)[0]
                elif iei in _PERIODS:
                    values[_ATTR[iei]] = period_seconds(raw[0])
                elif iei is Iei.WARNING_SECURITY:
                    values[_ATTR[iei]] = raw
                elif iei is Iei.CAUSE:
                    values["cause"] = Cause(raw[0]) if raw[0] <= 0x0F else Cause.UNSPECIFIED
                elif iei is Iei.CATEGORY:
                    values["category"] = Category(raw[0])
                else:
                    values[_ATTR[iei]] = raw[0]
        except DecodeError as exc:
            exc.pdu = partial
            raise
        except (ValueError, struct.error) as exc:
            raise DecodeError(
                Cause.PARAM_VALUE_INVALID, f"{iei.name.lower()}: {exc}", partial
            ) from None
        seen.add(iei)
        partial = Pdu(msg_type, **values)
        pos += size
    pdu = replace(partial, content=tuple(pages))
    missing = [i for i in _MANDATORY[msg_type] if i not in seen]
    if msg_type is MsgType.WRITE_REPLACE and not missing:
        emergency = Iei.WARNING_TYPE in seen
        needed = _EMERGENCY_MANDATORY if emergency else _CBS_MANDATORY
        missing = [i for i in needed if i not in seen]
        if not emergency and not missing and pdu.number_of_pages != len(pages):
            raise DecodeError(Cause.PARAM_VALUE_INVALID, "number of pages != contents", pdu)
    if missing:
        names = ", ".join(i.name.lower() for i in missing)
        raise DecodeError(Cause.MISSING_MANDATORY_IE, f"missing {names}", pdu)
    return pdu


@dataclass(frozen=True, slots=True)
class Summary:
    """What the delivery engine needs from an answer, read without building cell lists."""

    type: MsgType
    message_id: int | None
    new_serial: int | None
    old_serial: int | None


# peek's view of an IE octet: (IE, fixed length or -1 for a list, entry size extra to the
# cell id for lists), so the hot path indexes tuples instead of building enums.
_PEEK_IES: tuple[tuple[Iei, int, int] | None, ...] = tuple(
    (
        Iei(octet),
        -1 if Iei(octet) in _LISTS else _fixed_length(Iei(octet)),
        {Iei.CELL_LIST: 0, Iei.COMPLETED_LIST: 3, Iei.LOADING_LIST: 2}.get(Iei(octet), 0),
    )
    if octet in Iei._value2member_map_
    else None
    for octet in range(256)
)
_REFS = {Iei.MESSAGE_ID: 0, Iei.NEW_SERIAL: 1, Iei.OLD_SERIAL: 2}
_REF_NAMES = ("message_id", "new_serial", "old_serial")
_PEEK_MANDATORY = {t: tuple(_REFS[i] for i in ies if i in _REFS) for t, ies in _MANDATORY.items()}


def peek(frame: bytes) -> Summary:
    """Walk the IEs of one PDU, validating their framing, and return its references.

    Lists are checked for a known discriminator and a whole number of entries
    but not turned into objects: a COMPLETE from a large BSC lists hundreds of
    cells, and the full decode waits until someone asks for the per-cell view.
    """
    msg_type = _header(frame)
    refs: list[int | None] = [None, None, None]  # message id, new serial, old serial
    pos, end = HEADER, len(frame)
    while pos < end:
        shape = _PEEK_IES[frame[pos]]
        if shape is None:
            raise DecodeError(Cause.PARAM_NOT_RECOGNISED, f"unknown IE {frame[pos]:#04x}")
        iei, size, extra = shape
        pos += 1
        if size < 0:
            if pos + 2 > end:
                raise DecodeError(Cause.PARAM_VALUE_INVALID, f"{iei.name.lower()} truncated")
            size = (frame[pos] << 8) | frame[pos + 1]
            pos += 2
            if pos + size > end:
                raise DecodeError(Cause.PARAM_VALUE_INVALID, f"{iei.name.lower()} truncated")
            if iei is not Iei.FAILURE_LIST:
                if size == 0:
                    raise DecodeError(Cause.PARAM_VALUE_INVALID, f"{iei.name.lower()}: empty")
                step = _CELL_LEN[_discriminator(frame[pos])] + extra
                if (step == 0 and size != 1) or (step and (size - 1) % step):
                    raise DecodeError(Cause.PARAM_VALUE_INVALID, f"{iei.name.lower()}: bad length")
        else:
            if pos + size > end:
                raise DecodeError(Cause.PARAM_VALUE_INVALID, f"{iei.name.lower()} truncated")
            ref = _REFS.get(iei)
            if ref is not None:
                refs[ref] = (frame[pos] << 8) | frame[pos + 1]
        pos += size
    missing = [i for i in _PEEK_MANDATORY[msg_type] if refs[i] is None]
    if missing:
        names = ", ".join(name for i, name in enumerate(_REF_NAMES) if i in missing)
        raise DecodeError(Cause.MISSING_MANDATORY_IE, f"missing {names}")
    return Summary(msg_type, refs[0], refs[1], refs[2])
