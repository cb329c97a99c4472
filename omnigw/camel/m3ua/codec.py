"""M3UA messages (RFC 4666 3): a common header, then tag-length-value parameters padded to
four octets. Pure: bytes in, typed messages out, and back.

A message is its class and type and a mapping of parameter tags to raw values; the few
parameters the ASP side reads have helpers (routing contexts, traffic mode, error code,
affected point codes, the DATA message's protocol data).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum

PPID = 3  # SCTP payload protocol identifier of M3UA
PORT = 2905
VERSION = 1
HEADER = struct.Struct("!BBBBI")  # version, reserved, class, type, length (all of it)
MAX_MESSAGE = 64 * 1024  # larger than any SCCP message; what is bigger is refused


SI_SCCP = 3  # the service indicator of SCCP in a routing label (Q.704 14.2.1)


class Class(IntEnum):
    MGMT = 0
    TRANSFER = 1
    SSNM = 2
    ASPSM = 3
    ASPTM = 4
    RKM = 9


# (class, type) of each message the ASP side sends or reads
ERR, NTFY = (Class.MGMT, 0), (Class.MGMT, 1)
DATA = (Class.TRANSFER, 1)
DUNA, DAVA, DAUD, SCON, DUPU, DRST = ((Class.SSNM, t) for t in range(1, 7))
ASPUP, ASPDN, BEAT, ASPUP_ACK, ASPDN_ACK, BEAT_ACK = ((Class.ASPSM, t) for t in range(1, 7))
ASPAC, ASPIA, ASPAC_ACK, ASPIA_ACK = ((Class.ASPTM, t) for t in range(1, 5))
NAMES: dict[tuple[int, int], str] = {
    ERR: "ERR", NTFY: "NTFY", DATA: "DATA", DUNA: "DUNA", DAVA: "DAVA", DAUD: "DAUD",
    SCON: "SCON", DUPU: "DUPU", DRST: "DRST", ASPUP: "ASPUP", ASPDN: "ASPDN", BEAT: "BEAT",
    ASPUP_ACK: "ASPUP_ACK", ASPDN_ACK: "ASPDN_ACK", BEAT_ACK: "BEAT_ACK", ASPAC: "ASPAC",
    ASPIA: "ASPIA", ASPAC_ACK: "ASPAC_ACK", ASPIA_ACK: "ASPIA_ACK",
}  # fmt: skip


class Tag(IntEnum):
    """Parameter tags (RFC 4666 3.2 and 3.3)."""

    INFO_STRING = 0x0004
    ROUTING_CONTEXT = 0x0006
    DIAGNOSTIC = 0x0007
    HEARTBEAT_DATA = 0x0009
    TRAFFIC_MODE = 0x000B
    ERROR_CODE = 0x000C
    STATUS = 0x000D
    ASP_IDENTIFIER = 0x0011
    AFFECTED_POINT_CODE = 0x0012
    CORRELATION_ID = 0x0013
    NETWORK_APPEARANCE = 0x0200
    USER_CAUSE = 0x0204
    CONGESTION = 0x0205
    CONCERNED_DESTINATION = 0x0206
    PROTOCOL_DATA = 0x0210


class TrafficMode(IntEnum):
    OVERRIDE = 1
    LOADSHARE = 2
    BROADCAST = 3


class ErrorCode(IntEnum):
    """RFC 4666 3.8.1."""

    INVALID_VERSION = 0x01
    UNSUPPORTED_MESSAGE_CLASS = 0x03
    UNSUPPORTED_MESSAGE_TYPE = 0x04
    UNSUPPORTED_TRAFFIC_MODE = 0x05
    UNEXPECTED_MESSAGE = 0x06
    PROTOCOL_ERROR = 0x07
    INVALID_STREAM_IDENTIFIER = 0x09
    REFUSED_MANAGEMENT_BLOCKING = 0x0D
    ASP_IDENTIFIER_REQUIRED = 0x0E
    INVALID_ASP_IDENTIFIER = 0x0F
    INVALID_PARAMETER_VALUE = 0x11
    PARAMETER_FIELD_ERROR = 0x12
    UNEXPECTED_PARAMETER = 0x13
    DESTINATION_STATUS_UNKNOWN = 0x14
    INVALID_NETWORK_APPEARANCE = 0x15
    MISSING_PARAMETER = 0x16
    INVALID_ROUTING_CONTEXT = 0x19
    NO_CONFIGURED_AS_FOR_ASP = 0x1A


class DecodeError(ValueError):
    """Not an M3UA message; `code` is the ERR to answer with."""

    def __init__(self, reason: str, code: ErrorCode = ErrorCode.PROTOCOL_ERROR) -> None:
        super().__init__(reason)
        self.code = code


@dataclass(slots=True)
class ProtocolData:
    """The MTP3 routing label and the user part's payload (RFC 4666 3.3.1.1)."""

    opc: int
    dpc: int
    si: int  # service indicator: 3 is SCCP
    ni: int
    mp: int
    sls: int
    data: bytes

    def encode(self) -> bytes:
        head = struct.pack("!IIBBBB", self.opc, self.dpc, self.si, self.ni, self.mp, self.sls)
        return head + self.data

    @classmethod
    def decode(cls, raw: bytes) -> ProtocolData:
        if len(raw) < 12:
            raise DecodeError("Protocol Data shorter than its routing label",
                              ErrorCode.PARAMETER_FIELD_ERROR)  # fmt: skip
        opc, dpc, si, ni, mp, sls = struct.unpack_from("!IIBBBB", raw)
        return cls(opc, dpc, si, ni, mp, sls, raw[12:])


@dataclass(slots=True)
class Message:
    kind: tuple[int, int]  # (class, type)
    params: dict[int, bytes] = field(default_factory=dict)  # tag -> value, in order

    @property
    def name(self) -> str:
        return NAMES.get(self.kind, f"class {self.kind[0]} type {self.kind[1]}")

    def u32s(self, tag: int) -> tuple[int, ...]:
        raw = self.params.get(tag, b"")
        return struct.unpack(f"!{len(raw) // 4}I", raw[: len(raw) // 4 * 4])

    def u32(self, tag: int) -> int | None:
        values = self.u32s(tag)
        return values[0] if values else None

    @property
    def routing_contexts(self) -> tuple[int, ...]:
        return self.u32s(Tag.ROUTING_CONTEXT)

    @property
    def affected_point_codes(self) -> tuple[int, ...]:
        """Point codes (the mask octet dropped: a mask of 0 names one point code)."""
        return tuple(v & 0xFFFFFF for v in self.u32s(Tag.AFFECTED_POINT_CODE))

    @property
    def protocol_data(self) -> ProtocolData | None:
        raw = self.params.get(Tag.PROTOCOL_DATA)
        return ProtocolData.decode(raw) if raw is not None else None


def u32(*values: int) -> bytes:
    return struct.pack(f"!{len(values)}I", *values)


def message(kind: tuple[int, int], *params: tuple[int, bytes]) -> Message:
    return Message(kind, dict(params))


def encode(msg: Message) -> bytes:
    body = bytearray()
    for tag, value in msg.params.items():
        body += struct.pack("!HH", tag, 4 + len(value)) + value
        body += bytes(-len(value) % 4)
    return HEADER.pack(VERSION, 0, msg.kind[0], msg.kind[1], HEADER.size + len(body)) + body


def decode(data: bytes) -> Message:
    """One whole message (SCTP delivers them one at a time; TCP framing by frame_length)."""
    if len(data) < HEADER.size:
        raise DecodeError("shorter than the common header")
    version, _, cls, kind, length = HEADER.unpack_from(data)
    if version != VERSION:
        raise DecodeError(f"version {version}", ErrorCode.INVALID_VERSION)
    if length != len(data) or length % 4:
        raise DecodeError(f"length {length} for {len(data)} octets")
    if cls not in Class._value2member_map_:
        raise DecodeError(f"message class {cls}", ErrorCode.UNSUPPORTED_MESSAGE_CLASS)
    params: dict[int, bytes] = {}
    pos = HEADER.size
    while pos < length:
        if length - pos < 4:
            raise DecodeError("a parameter header cut short", ErrorCode.PARAMETER_FIELD_ERROR)
        tag, size = struct.unpack_from("!HH", data, pos)
        if size < 4 or pos + size > length:
            raise DecodeError(f"parameter {tag:#06x} of length {size}",
                              ErrorCode.PARAMETER_FIELD_ERROR)  # fmt: skip
        params[tag] = bytes(data[pos + 4 : pos + size])
        pos += size + (-size % 4)
    return Message((cls, kind), params)


def frame_length(data: bytes) -> int | None:
    """The length of the message at the start of `data` (over TCP), None if not known yet."""
    if len(data) < HEADER.size:
        return None
    length = int.from_bytes(data[4:8], "big")
    if length < HEADER.size or length > MAX_MESSAGE:
        raise DecodeError(f"message length {length}")
    return length
