"""Diameter (RFC 6733) header and AVP encode/decode: the lean path for the hot loop.

Pure: bytes in, `Message` out and back. AVP values stay raw bytes until read
through a typed accessor, and grouped AVPs are parsed only when opened, so a
CCR is framed in a few microseconds. python-diameter's dictionary supplies AVP
names and types (for validation and for humans); its own codec is the
cross-check in the tests, not the hot path.

A `DecodeError` carries the RFC 6733 result code the answer must use, and the
offending AVP for Failed-AVP where there is one.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address, ip_address

HEADER = 20
VERSION = 1
MAX_LENGTH = 1 << 20  # far above any Gy message; larger is refused before buffering

# Command flags (RFC 6733 3)
FLAG_REQUEST = 0x80
FLAG_PROXIABLE = 0x40
FLAG_ERROR = 0x20
FLAG_RETRANSMIT = 0x10
# AVP flags (RFC 6733 4.1)
AVP_VENDOR = 0x80
AVP_MANDATORY = 0x40
AVP_PROTECTED = 0x20

# Result codes a decoder can raise (RFC 6733 7.1)
INVALID_HEADER_BITS = 3008
INVALID_AVP_BITS = 3009
UNSUPPORTED_VERSION = 5011
INVALID_AVP_LENGTH = 5014
INVALID_MESSAGE_LENGTH = 5015
INVALID_AVP_VALUE = 5004

NTP_OFFSET = 2208988800  # seconds from 1900 (Diameter Time) to 1970


class DecodeError(Exception):
    """A message that must be answered with `result_code` (and Failed-AVP `avp` if set)."""

    def __init__(self, result_code: int, reason: str, avp: Avp | None = None) -> None:
        super().__init__(reason)
        self.result_code = result_code
        self.reason = reason
        self.avp = avp


@dataclass(slots=True)
class Avp:
    code: int
    data: bytes
    vendor: int = 0
    mandatory: bool = True
    protected: bool = False
    # The AVP as it goes on the wire, padding included, for constants encoded once
    # (`frozen`). AVPs are never changed after they are made.
    wire: bytes | None = field(default=None, repr=False, compare=False)

    # --- typed readers -----------------------------------------------------------

    def _fixed(self, size: int, fmt: str) -> int:
        if len(self.data) != size:
            raise DecodeError(INVALID_AVP_LENGTH, f"AVP {self.code}: expected {size} octets", self)
        value: int = struct.unpack(fmt, self.data)[0]
        return value

    def u32(self) -> int:
        return self._fixed(4, ">I")

    def u64(self) -> int:
        return self._fixed(8, ">Q")

    def i32(self) -> int:
        return self._fixed(4, ">i")

    def i64(self) -> int:
        return self._fixed(8, ">q")

    def text(self) -> str:
        try:
            return self.data.decode("utf-8")
        except UnicodeDecodeError:
            raise DecodeError(INVALID_AVP_VALUE, f"AVP {self.code}: not UTF-8", self) from None

    def time(self) -> int:
        """Unix seconds from a Diameter Time (NTP seconds)."""
        return self._fixed(4, ">I") - NTP_OFFSET

    def address(self) -> IPv4Address | IPv6Address:
        if len(self.data) < 2:
            raise DecodeError(INVALID_AVP_LENGTH, f"AVP {self.code}: no address family", self)
        family = int.from_bytes(self.data[:2], "big")
        raw = self.data[2:]
        if (family, len(raw)) not in ((1, 4), (2, 16)):
            raise DecodeError(INVALID_AVP_VALUE, f"AVP {self.code}: bad address", self)
        return ip_address(raw)

    def group(self) -> list[Avp]:
        return parse_avps(self.data)

    # --- constructors ------------------------------------------------------------

    @classmethod
    def of_u32(cls, code: int, value: int, vendor: int = 0, mandatory: bool = True) -> Avp:
        return cls(code, struct.pack(">I", value), vendor, mandatory)

    @classmethod
    def of_u64(cls, code: int, value: int, vendor: int = 0, mandatory: bool = True) -> Avp:
        return cls(code, struct.pack(">Q", value), vendor, mandatory)

    @classmethod
    def of_text(cls, code: int, value: str, vendor: int = 0, mandatory: bool = True) -> Avp:
        return cls(code, value.encode("utf-8"), vendor, mandatory)

    @classmethod
    def of_address(
        cls, code: int, value: IPv4Address | IPv6Address, vendor: int = 0, mandatory: bool = True
    ) -> Avp:
        family = 1 if value.version == 4 else 2
        return cls(code, struct.pack(">H", family) + value.packed, vendor, mandatory)

    @classmethod
    def of_entry(cls, entry: Entry) -> Avp:
        """The AVP a `walk` entry describes."""
        code, flags, vendor, value = entry
        return cls(code, value, vendor, flags & AVP_MANDATORY != 0, flags & AVP_PROTECTED != 0)

    def frozen(self) -> Avp:
        """This AVP with its encoding kept, for constants sent in every answer."""
        self.wire = encode_avp(self)
        return self

    @classmethod
    def of_group(
        cls, code: int, avps: Iterable[Avp], vendor: int = 0, mandatory: bool = True
    ) -> Avp:
        return cls(code, b"".join([encode_avp(a) for a in avps]), vendor, mandatory)


# An AVP as `walk` finds it: (code, flags, vendor, value). Cheaper than an `Avp` by far.
Entry = tuple[int, int, int, bytes]


class Message:
    """A Diameter message. One that was decoded keeps its AVPs as `walk` entries and
    makes `Avp` objects only when asked (`avps`): the Gy path reads the entries
    (`ccr.parse_ccr`) and never needs them. Messages are not changed once made,
    except by replacing `avps` whole."""

    __slots__ = ("_avps", "_entries", "app_id", "command", "end_to_end", "flags", "hop_by_hop")

    def __init__(
        self,
        command: int,
        app_id: int,
        hop_by_hop: int,
        end_to_end: int,
        flags: int = FLAG_REQUEST | FLAG_PROXIABLE,
        avps: list[Avp] | None = None,
        *,
        entries: list[Entry] | None = None,
    ) -> None:
        self.command, self.app_id, self.flags = command, app_id, flags
        self.hop_by_hop, self.end_to_end = hop_by_hop, end_to_end
        self._entries = entries
        self._avps = avps if avps is not None or entries is not None else []

    @property
    def avps(self) -> list[Avp]:
        if self._avps is None:
            assert self._entries is not None
            self._avps = [Avp.of_entry(entry) for entry in self._entries]
        return self._avps

    @avps.setter
    def avps(self, avps: list[Avp]) -> None:
        self._avps, self._entries = avps, None

    @property
    def entries(self) -> list[Entry]:
        if self._entries is None:
            self._entries = [(a.code, _flags(a), a.vendor, a.data) for a in self.avps]
        return self._entries

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"Message(command={self.command}, app_id={self.app_id}, hop_by_hop="
                f"{self.hop_by_hop}, end_to_end={self.end_to_end}, flags={self.flags:#04x}, "
                f"avps={self.avps!r})")  # fmt: skip

    def _key(self) -> tuple[int, int, int, int, int, list[Entry]]:
        return (self.command, self.app_id, self.hop_by_hop, self.end_to_end, self.flags,
                self.entries)  # fmt: skip

    @property
    def is_request(self) -> bool:
        return bool(self.flags & FLAG_REQUEST)

    @property
    def is_retransmission(self) -> bool:
        return bool(self.flags & FLAG_RETRANSMIT)

    def find(self, code: int, vendor: int = 0) -> Avp | None:
        """The first top-level AVP with this code."""
        for avp in self.avps:
            if avp.code == code and avp.vendor == vendor:
                return avp
        return None

    def find_all(self, code: int, vendor: int = 0) -> list[Avp]:
        return [a for a in self.avps if a.code == code and a.vendor == vendor]

    def answer(self, avps: list[Avp], error: bool = False) -> Message:
        """An answer to this request: same command, ids and proxiable bit."""
        flags = (self.flags & FLAG_PROXIABLE) | (FLAG_ERROR if error else 0)
        return Message(self.command, self.app_id, self.hop_by_hop, self.end_to_end, flags, avps)


def _flags(avp: Avp) -> int:
    return ((AVP_VENDOR if avp.vendor else 0) | (AVP_MANDATORY if avp.mandatory else 0)
            | (AVP_PROTECTED if avp.protected else 0))  # fmt: skip


_AVP_HEAD = struct.Struct(">II")  # code, flags << 24 | length
_AVP_VENDOR_HEAD = struct.Struct(">III")  # code, flags << 24 | length, vendor
_HEADER = struct.Struct(">IIIII")  # version|length, flags|command, app, hop, e2e
_PADDING = (b"", b"\0\0\0", b"\0\0", b"\0")  # by length % 4


def encode_avp(avp: Avp) -> bytes:
    if avp.wire is not None:
        return avp.wire
    data = avp.data
    if avp.vendor:
        length = 12 + len(data)
        head = _AVP_VENDOR_HEAD.pack(avp.code, _flags(avp) << 24 | length, avp.vendor)
    else:
        length = 8 + len(data)
        head = _AVP_HEAD.pack(avp.code, _flags(avp) << 24 | length)
    return head + data + _PADDING[length & 3]


def encode(message: Message) -> bytes:
    body = b"".join([encode_avp(a) for a in message.avps])
    head = _HEADER.pack(
        VERSION << 24 | (HEADER + len(body)),
        message.flags << 24 | message.command,
        message.app_id,
        message.hop_by_hop,
        message.end_to_end,
    )
    return head + body


def walk(data: bytes) -> list[Entry]:
    """The AVPs packed in `data` (a message body or a grouped AVP's value), framing checked."""
    found = []
    pos, end = 0, len(data)
    unpack = _AVP_HEAD.unpack_from
    while pos < end:
        if end - pos < 8:
            raise DecodeError(INVALID_AVP_LENGTH, "truncated AVP header")
        code, word = unpack(data, pos)
        flags, length = word >> 24, word & 0xFFFFFF
        vendor = 0
        head = 8
        if flags & AVP_VENDOR:
            if length < 12 or end - pos < 12:
                raise DecodeError(INVALID_AVP_LENGTH, f"AVP {code}: truncated vendor id")
            vendor = unpack(data, pos + 4)[1]
            head = 12
        if length < head or pos + length > end:
            raise DecodeError(
                INVALID_AVP_LENGTH,
                f"AVP {code}: length {length} does not fit",
                Avp(code, b"", vendor, bool(flags & AVP_MANDATORY)),
            )
        if flags & 0x1F:
            raise DecodeError(INVALID_AVP_BITS, f"AVP {code}: reserved flag bits set")
        found.append((code, flags, vendor, data[pos + head : pos + length]))
        pos += (length + 3) & ~3
    return found


def parse_avps(data: bytes) -> list[Avp]:
    """The AVPs packed in `data`, as `Avp` objects."""
    return [Avp.of_entry(entry) for entry in walk(data)]


def frame_length(buffer: bytes | bytearray, offset: int = 0) -> int | None:
    """Length of the message at `offset` in `buffer`, or None until its header is in.

    Raises DecodeError when the header cannot start a legal message (the stream
    cannot be resynchronised: the connection must close).
    """
    if len(buffer) - offset < 4:
        return None
    if buffer[offset] != VERSION:
        raise DecodeError(UNSUPPORTED_VERSION, f"version {buffer[offset]}")
    length = int.from_bytes(buffer[offset + 1 : offset + 4], "big")
    if length < HEADER or length % 4 or length > MAX_LENGTH:
        raise DecodeError(INVALID_MESSAGE_LENGTH, f"message length {length}")
    return length


def decode(frame: bytes) -> Message:
    """One whole message (as delimited by `frame_length`)."""
    if len(frame) < HEADER:
        raise DecodeError(INVALID_MESSAGE_LENGTH, "shorter than the header")
    first, second, app_id, hop, e2e = _HEADER.unpack_from(frame)
    if first >> 24 != VERSION:
        raise DecodeError(UNSUPPORTED_VERSION, f"version {first >> 24}")
    if first & 0xFFFFFF != len(frame):
        raise DecodeError(INVALID_MESSAGE_LENGTH, "length field does not match")
    flags = second >> 24
    if flags & 0x0F or (flags & FLAG_REQUEST and flags & FLAG_ERROR):
        raise DecodeError(INVALID_HEADER_BITS, f"invalid command flags {flags:#04x}")
    return Message(second & 0xFFFFFF, app_id, hop, e2e, flags, entries=walk(frame[HEADER:]))


def header_of(frame: bytes) -> Message | None:
    """The header of a frame whose AVPs could not be read, to answer it; None if unusable."""
    if len(frame) < HEADER or frame[0] != VERSION:
        return None
    _, _, flags, command, app_id, hop, e2e = struct.unpack(">B3sB3sIII", frame[:HEADER])
    return Message(int.from_bytes(command, "big"), app_id, hop, e2e, flags, [])
