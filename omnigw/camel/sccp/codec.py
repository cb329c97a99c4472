"""SCCP connectionless messages (ITU-T Q.713 4.10-4.19): UDT, UDTS, XUDT, XUDTS with their
called and calling party addresses (point code, SSN, global title). Pure.

Addresses follow the ITU format: an address indicator octet, then the 14-bit point code
(least significant octet first), the SSN, and the global title, each when indicated.
Global titles of indicator 4 (translation type, numbering plan, encoding, nature of
address, BCD digits) are read and written; others are kept as raw octets.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import IntEnum

CAP_SSN = 146  # the SSN of CAP at both ends (gsmSSF and gsmSCF)


class MsgType(IntEnum):
    UDT = 0x09
    UDTS = 0x0A
    XUDT = 0x11
    XUDTS = 0x12


class ReturnCause(IntEnum):
    """Q.713 3.12."""

    NO_TRANSLATION_FOR_NATURE = 0
    NO_TRANSLATION_FOR_ADDRESS = 1
    SUBSYSTEM_CONGESTION = 2
    SUBSYSTEM_FAILURE = 3
    UNEQUIPPED_USER = 4
    MTP_FAILURE = 5
    NETWORK_CONGESTION = 6
    UNQUALIFIED = 7
    ERROR_IN_MESSAGE_TRANSPORT = 8
    HOP_COUNTER_VIOLATION = 12


class DecodeError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class GlobalTitle:
    """GT indicator 4: what E.164 numbers (MSC, gsmSCF addresses) are carried as."""

    digits: str
    nature: int = 4  # international number
    numbering_plan: int = 1  # ISDN/telephony (E.164)
    translation_type: int = 0


@dataclass(frozen=True, slots=True)
class Address:
    ssn: int | None = None
    point_code: int | None = None
    # Another global title indicator than 4 is kept as (indicator, its octets)
    gt: GlobalTitle | tuple[int, bytes] | None = None
    route_on_ssn: bool = True  # routing indicator: on SSN (True) or on the global title


SEGMENTATION = 0x10  # the optional parameter of a segmented XUDT (Q.713 3.17)


@dataclass(slots=True)
class Segment:
    """Where an XUDT's data sits in a message sent in several (Q.713 3.17)."""

    first: bool
    remaining: int  # segments still to come after this one: 0..15
    reference: int  # the sender's local reference, 24 bits
    in_sequence: bool = True  # the message asked for class 1 (in-sequence delivery)


@dataclass(slots=True)
class Unitdata:
    """A UDT or XUDT (`hop_counter` set) or, with a `return_cause`, their service form."""

    called: Address
    calling: Address
    data: bytes
    return_on_error: bool = False
    hop_counter: int | None = None  # XUDT/XUDTS: 1..15
    return_cause: int | None = None  # UDTS/XUDTS
    segment: Segment | None = None  # XUDT/XUDTS: one segment of a longer message

    @property
    def type(self) -> MsgType:
        if self.return_cause is not None:
            return MsgType.XUDTS if self.hop_counter is not None else MsgType.UDTS
        return MsgType.XUDT if self.hop_counter is not None else MsgType.UDT


def _bcd(digits: str) -> bytes:
    nibbles = [int(d, 16) for d in digits] + ([0] if len(digits) % 2 else [])
    return bytes(nibbles[i] | nibbles[i + 1] << 4 for i in range(0, len(nibbles), 2))


def _digits(raw: bytes, odd: bool) -> str:
    text = "".join(f"{b & 0xF:x}{b >> 4:x}" for b in raw)
    return text[:-1] if odd else text


# A gsmSCF hears from a handful of switches and writes its own address on every answer:
# addresses are read and written once per distinct value.
@functools.lru_cache(maxsize=4096)
def encode_address(a: Address) -> bytes:
    return _encode_address(a)


@functools.lru_cache(maxsize=4096)
def decode_address(raw: bytes) -> Address:
    return _decode_address(raw)


def _encode_address(a: Address) -> bytes:
    gti = 4 if isinstance(a.gt, GlobalTitle) else (a.gt[0] if a.gt else 0)
    indicator = (a.point_code is not None) | (a.ssn is not None) << 1 | gti << 2
    indicator |= a.route_on_ssn << 6
    out = bytearray([indicator])
    if a.point_code is not None:
        out += (a.point_code & 0x3FFF).to_bytes(2, "little")
    if a.ssn is not None:
        out.append(a.ssn)
    if isinstance(a.gt, GlobalTitle):
        scheme = 1 if len(a.gt.digits) % 2 else 2  # BCD, odd or even number of digits
        out += bytes([a.gt.translation_type, a.gt.numbering_plan << 4 | scheme,
                      a.gt.nature & 0x7F]) + _bcd(a.gt.digits)  # fmt: skip
    elif a.gt:
        out += a.gt[1]
    return bytes(out)


def _decode_address(raw: bytes) -> Address:
    if not raw:
        raise DecodeError("an empty party address")
    indicator, pos = raw[0], 1
    point_code = ssn = None
    if indicator & 0x01:
        if len(raw) < pos + 2:
            raise DecodeError("a point code cut short")
        point_code = int.from_bytes(raw[pos : pos + 2], "little") & 0x3FFF
        pos += 2
    if indicator & 0x02:
        if len(raw) < pos + 1:
            raise DecodeError("an SSN cut short")
        ssn = raw[pos]
        pos += 1
    gti = indicator >> 2 & 0x0F
    gt: GlobalTitle | tuple[int, bytes] | None = None
    if gti == 4:
        if len(raw) < pos + 3:
            raise DecodeError("a global title cut short")
        tt, plan_scheme, nature = raw[pos : pos + 3]
        odd = plan_scheme & 0x0F == 1
        gt = GlobalTitle(_digits(raw[pos + 3 :], odd), nature & 0x7F, plan_scheme >> 4, tt)
    elif gti:
        gt = (gti, bytes(raw[pos:]))
    return Address(ssn, point_code, gt, bool(indicator & 0x40))


def encode(msg: Unitdata) -> bytes:
    called, calling, data = encode_address(msg.called), encode_address(msg.calling), msg.data
    if msg.hop_counter is None and msg.return_cause is None and len(data) < 256:
        # a UDT (what a gsmSCF sends): its three pointers follow from the part lengths
        lc, lg = len(called), len(calling)
        udt = (MsgType.UDT, 0x80 if msg.return_on_error else 0, 3, 3 + lc, 3 + lc + lg, lc)
        return bytes(udt) + called + bytes((lg,)) + calling + bytes((len(data),)) + data
    parts = [called, calling, data]
    if any(len(p) > 255 for p in parts):
        raise ValueError("an SCCP part over 255 octets (send it in segments: sccp.segments)")
    head = bytearray([msg.type])
    if msg.return_cause is not None:
        head.append(msg.return_cause)
    else:  # protocol class 0, or 1 (in sequence) for the segments of one message
        in_sequence = msg.segment is not None and msg.segment.in_sequence
        head.append((0x80 if msg.return_on_error else 0x00) | in_sequence)
    if msg.hop_counter is not None:
        head.append(msg.hop_counter)
    pointers = 4 if msg.hop_counter is not None else 3
    body, offsets = bytearray(), []
    for part in parts:
        offsets.append(len(body))
        body += bytes([len(part)]) + part
    # each pointer counts from its own octet to its part's length octet
    pointer_octets = [pointers - i + offsets[i] for i in range(3)]
    if pointers == 4:
        optional = 0  # none
        if msg.segment is not None:
            optional = 1 + len(body)  # from the fourth pointer, past the mandatory parts
            if optional > 255:
                raise ValueError("a segment's data too long for its optional part's pointer")
            seg = msg.segment
            first = seg.first << 7 | seg.in_sequence << 6 | seg.remaining & 0x0F
            body += bytes((SEGMENTATION, 4, first)) + seg.reference.to_bytes(3, "big") + b"\x00"
        pointer_octets.append(optional)
    elif msg.segment is not None:
        raise ValueError("only an XUDT (a hop counter) carries a segment")
    return bytes(head + bytes(pointer_octets) + body)


def _segment(raw: bytes, at: int) -> Segment | None:
    """The segmentation parameter among the optional ones starting at `at`, if there."""
    while at < len(raw) and raw[at] != 0:
        if at + 2 > len(raw) or at + 2 + raw[at + 1] > len(raw):
            raise DecodeError("an optional parameter runs past the message")
        tag, size = raw[at], raw[at + 1]
        if tag == SEGMENTATION:
            if size != 4:
                raise DecodeError(f"a segmentation parameter of {size} octets")
            value = raw[at + 2 : at + 6]
            return Segment(bool(value[0] & 0x80), value[0] & 0x0F,
                           int.from_bytes(value[1:4], "big"), bool(value[0] & 0x40))  # fmt: skip
        at += 2 + size
    return None


def decode(raw: bytes) -> Unitdata:
    if len(raw) < 5:
        raise DecodeError("shorter than any unitdata message")
    try:
        kind = MsgType(raw[0])
    except ValueError:
        raise DecodeError(f"message type {raw[0]:#04x} is not connectionless data") from None
    service = kind in (MsgType.UDTS, MsgType.XUDTS)
    extended = kind in (MsgType.XUDT, MsgType.XUDTS)
    second = raw[1]
    hop = raw[2] if extended else None
    first_pointer = 3 if extended else 2
    parts = []
    for i in range(3):
        at = first_pointer + i
        if at >= len(raw) or raw[at] == 0:
            raise DecodeError("a mandatory part is missing")
        start = at + raw[at]
        if start >= len(raw) or start + 1 + raw[start] > len(raw):
            raise DecodeError("a part runs past the message")
        parts.append(raw[start + 1 : start + 1 + raw[start]])
    segment = None
    if extended and len(raw) > 6 and raw[6]:
        segment = _segment(raw, 6 + raw[6])
    return Unitdata(
        decode_address(parts[0]), decode_address(parts[1]), bytes(parts[2]),
        return_on_error=not service and bool(second & 0x80), hop_counter=hop,
        return_cause=second if service else None, segment=segment,
    )  # fmt: skip
