"""Just enough BER (X.690) for TCAP and CAP: tag-length-value read and written by hand.

A tag is kept as the integer its identifier octets spell (0x9F38 is [56] context,
primitive), so a decoder compares what it reads with constants and never builds a tag
object. Lengths are definite on the way out; on the way in the indefinite form
(0x80 ... 00 00) is accepted too, as X.690 allows it for constructed values and some
switches send it. Pure; errors are DecodeError with what was wrong.
"""

from __future__ import annotations


class DecodeError(ValueError):
    pass


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(raw),)) + raw


def tlv(tag: int, value: bytes) -> bytes:
    n = len(value)
    if tag < 0x100 and n < 0x80:  # nearly every TLV of TCAP and CAP: two octets of header
        return bytes((tag, n)) + value
    head = tag.to_bytes((tag.bit_length() + 7) // 8 or 1, "big")
    return head + _length(n) + value


def integer(n: int) -> bytes:
    """The content octets of an INTEGER: two's complement, shortest form."""
    return n.to_bytes(n.bit_length() // 8 + 1, "big", signed=True)


def to_int(raw: bytes) -> int:
    if not raw or len(raw) > 8:
        raise DecodeError(f"an INTEGER of {len(raw)} octets")
    return int.from_bytes(raw, "big", signed=True)


def oid(arcs: tuple[int, ...]) -> bytes:
    """The content octets of an OBJECT IDENTIFIER."""
    out = bytearray()
    for arc in (arcs[0] * 40 + arcs[1], *arcs[2:]):
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | arc & 0x7F)
            arc >>= 7
        out += bytes(reversed(chunk))
    return bytes(out)


def to_oid(raw: bytes) -> tuple[int, ...]:
    arcs, arc = [], 0
    for octet in raw:
        arc = arc << 7 | octet & 0x7F
        if not octet & 0x80:
            arcs.append(arc)
            arc = 0
    if not arcs or raw[-1] & 0x80:
        raise DecodeError("an OBJECT IDENTIFIER cut short")
    first = arcs[0]
    head = (min(first // 40, 2), first - 40 * min(first // 40, 2))
    return (*head, *arcs[1:])


def read(data: bytes, pos: int, end: int) -> tuple[int, int, int, int]:
    """One TLV at `pos`: (tag, value start, value end, position after it)."""
    if pos >= end:
        raise DecodeError("a value expected, the data ended")
    first = data[pos]
    tag = first
    pos += 1
    if first & 0x1F == 0x1F:  # high tag number: more octets while bit 8 is set
        while True:
            if pos >= end:
                raise DecodeError("a tag cut short")
            tag = tag << 8 | data[pos]
            pos += 1
            if not data[pos - 1] & 0x80:
                break
            if tag > 0xFFFFFFFF:
                raise DecodeError("a tag number too large")
    if pos >= end:
        raise DecodeError("a length expected, the data ended")
    n = data[pos]
    pos += 1
    if n < 0x80:
        if pos + n > end:
            raise DecodeError(f"a value of {n} octets runs past the end")
        return tag, pos, pos + n, pos + n
    if n == 0x80:
        if not first & 0x20:
            raise DecodeError("an indefinite length on a primitive value")
        inner = pos
        while True:
            if inner + 1 < end and data[inner] == 0 and data[inner + 1] == 0:
                return tag, pos, inner, inner + 2
            inner = read(data, inner, end)[3]
    count = n & 0x7F
    if count > 4 or pos + count > end:
        raise DecodeError("a length field too long or cut short")
    n = int.from_bytes(data[pos : pos + count], "big")
    pos += count
    if pos + n > end:
        raise DecodeError(f"a value of {n} octets runs past the end")
    return tag, pos, pos + n, pos + n


def items(data: bytes, start: int = 0, end: int | None = None) -> list[tuple[int, bytes]]:
    """The TLVs one after another between `start` and `end`: (tag, value)."""
    stop = len(data) if end is None else end
    out = []
    pos = start
    while pos < stop:
        # the common case inline (a low tag number, a short definite length); read() else
        first = data[pos]
        if first & 0x1F != 0x1F and pos + 1 < stop and data[pos + 1] < 0x80:
            after = pos + 2 + data[pos + 1]
            if after > stop:
                raise DecodeError(f"a value of {data[pos + 1]} octets runs past the end")
            out.append((first, data[pos + 2 : after]))
            pos = after
            continue
        tag, vs, ve, pos = read(data, pos, stop)
        out.append((tag, data[vs:ve]))
    return out


def fields(value: bytes) -> dict[int, bytes]:
    """A SEQUENCE's components by tag (the first of each; ours never repeat a tag)."""
    found: dict[int, bytes] = {}
    for tag, inner in items(value):
        if tag not in found:
            found[tag] = inner
    return found


def only(value: bytes) -> tuple[int, bytes]:
    """The one TLV of an explicitly tagged value or a CHOICE."""
    tag, vs, ve, after = read(value, 0, len(value))
    if after != len(value):
        raise DecodeError("more than the one value expected")
    return tag, value[vs:ve]
