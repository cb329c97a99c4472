"""The parts of SBc-AP's aligned PER (X.691) written by hand: the PDU and IE-container
framing, and the IEs that carry one entry per cell.

pycrate encodes and decodes the small IEs; these lists are where it is too slow (a
Warning-Area-List of 20,000 ECGIs took 0.4 s to encode and 0.5 s to decode) and where its
decoder loses every IE after an open type longer than 16,383 octets (a fragmented length).
Each function here is checked against pycrate's result in tests/cbc/sbcap/.
"""

from __future__ import annotations

FRAGMENT = 16384  # X.691 11.9.3.8: lengths from here on come in fragments
CRITICALITY = ("reject", "ignore", "notify")
KINDS = ("initiatingMessage", "successfulOutcome", "unsuccessfulOutcome")


class AperError(ValueError):
    pass


# --- open types and the IE container ------------------------------------------------------


def open_type(value: bytes) -> bytes:
    """An open type's value with its unconstrained length determinant (X.691 11.9.3.6-8)."""
    n, out, pos = len(value), bytearray(), 0
    while n - pos >= FRAGMENT:
        blocks = min((n - pos) // FRAGMENT, 4)
        out.append(0xC0 | blocks)
        out += value[pos : pos + blocks * FRAGMENT]
        pos += blocks * FRAGMENT
    rest = n - pos
    out += bytes([rest]) if rest < 128 else (0x8000 | rest).to_bytes(2, "big")
    out += value[pos:]
    return bytes(out)


def read_open_type(data: bytes, pos: int) -> tuple[bytes, int]:
    """The value at `pos` and the position after it."""
    out = bytearray()
    while True:
        if pos >= len(data):
            raise AperError("truncated length")
        first = data[pos]
        if first & 0xC0 == 0xC0:
            size = (first & 0x3F) * FRAGMENT
            out += _take(data, pos + 1, size)
            pos += 1 + size
            continue
        if first & 0x80:
            size, pos = int.from_bytes(_take(data, pos, 2), "big") & 0x3FFF, pos + 2
        else:
            size, pos = first, pos + 1
        out += _take(data, pos, size)
        return bytes(out), pos + size


def _take(data: bytes, pos: int, size: int) -> bytes:
    if pos + size > len(data):
        raise AperError(f"{size} octets announced, {len(data) - pos} left")
    return data[pos : pos + size]


def pdu(kind: str, procedure: int, criticality: str, ies: list[tuple[int, str, bytes]]) -> bytes:
    """SBC-AP-PDU: the CHOICE, the procedure, and its message as a container of IEs."""
    body = bytearray(b"\x00")  # message SEQUENCE: no extension, no protocolExtensions
    body += len(ies).to_bytes(2, "big")
    for ie_id, ie_criticality, value in ies:
        body += ie_id.to_bytes(2, "big") + bytes([CRITICALITY.index(ie_criticality) << 6])
        body += open_type(value)
    head = bytes([KINDS.index(kind) << 5, procedure, CRITICALITY.index(criticality) << 6])
    return head + open_type(bytes(body))


def criticalities(data: bytes) -> list[tuple[int, str]]:
    """(IE id, criticality) of each IE of a PDU read_pdu accepts."""
    body, _ = read_open_type(data, 3)
    out, pos = [], 3
    for _ in range(int.from_bytes(body[1:3], "big")):
        ie_id = int.from_bytes(_take(body, pos, 2), "big")
        out.append((ie_id, CRITICALITY[min(_take(body, pos + 2, 1)[0] >> 6, 2)]))
        _, pos = read_open_type(body, pos + 3)
    return out


def read_pdu(data: bytes) -> tuple[str, int, list[tuple[int, bytes]]]:
    """(kind, procedure code, [(IE id, value)]); extensions and unknown additions skipped."""
    if len(data) < 4:
        raise AperError("too short for an SBc-AP PDU")
    if data[0] & 0x80:
        raise AperError("an SBc-AP PDU choice this codec does not know")
    index = data[0] >> 5 & 0x3
    if index >= len(KINDS):
        raise AperError("an SBc-AP PDU choice this codec does not know")
    body, _ = read_open_type(data, 3)
    if len(body) < 3:
        raise AperError("message too short")
    count = int.from_bytes(body[1:3], "big")
    ies, pos = [], 3
    for _ in range(count):
        ie_id = int.from_bytes(_take(body, pos, 2), "big")
        value, pos = read_open_type(body, pos + 3)
        ies.append((ie_id, value))
    return KINDS[index], data[1], ies


# --- the long lists ------------------------------------------------------------------------


def _choice_of_list(index: int, count: int) -> bytearray:
    """Warning-Area-List's CHOICE index and its list's length (1..65535, two octets)."""
    if not 1 <= count <= 65535:
        raise AperError(f"a Warning-Area-List holds 1 to 65535 entries, not {count}")
    return bytearray([index << 5]) + (count - 1).to_bytes(2, "big")


def ecgi_list(cells: list[tuple[bytes, int]]) -> bytes:
    """Warning-Area-List as cell-ID-List of (plmn, 28-bit cell id). Each ECGI's two preamble
    bits share the octet its predecessor's 28-bit cell id left open: 7 octets an ECGI."""
    out = _choice_of_list(0, len(cells))
    out.append(0)  # the first ECGI's preamble, on its own octet
    for plmn, eci in cells:
        out += plmn + (eci << 4).to_bytes(4, "big")
    return bytes(out)


def tai_list(tais: list[tuple[bytes, int]]) -> bytes:
    """Warning-Area-List as tracking-Area-List-for-Warning of (plmn, tac): 6 octets a TAI."""
    out = _choice_of_list(1, len(tais))
    for plmn, tac in tais:
        out += b"\x00" + plmn + tac.to_bytes(2, "big")
    return bytes(out)


def emergency_area_list(areas: list[int]) -> bytes:
    """Warning-Area-List as emergency-Area-ID-List of 3-octet ids."""
    out = _choice_of_list(2, len(areas))
    for area in areas:
        out += area.to_bytes(3, "big")
    return bytes(out)


def cell_reports(cells: list[tuple[bytes, int, int]], counted: bool) -> bytes:
    """The cell form of a Broadcast-Scheduled-Area-List (`counted` False) or
    Broadcast-Cancelled-Area-List (True) of (plmn, cell id, broadcasts): the layout
    `read_cell_reports` reads."""
    if not 1 <= len(cells) <= 65535:
        raise AperError(f"a cell report holds 1 to 65535 cells, not {len(cells)}")
    out = bytearray([0x40]) + (len(cells) - 1).to_bytes(2, "big")
    if counted:
        for plmn, eci, broadcasts in cells:
            out += b"\x00" + plmn + (eci << 4).to_bytes(4, "big") + broadcasts.to_bytes(2, "big")
    else:
        out.append(0)  # the first cell's preamble, on its own octet
        for plmn, eci, _ in cells:
            out += plmn + (eci << 4).to_bytes(4, "big")
    return bytes(out)


def count_cell_reports(value: bytes, counted: bool) -> int | None:
    """How many cells the cell form of a reported-area list holds, its size checked; None for
    the other forms (see read_cell_reports)."""
    if len(value) < 4 or value[0] != 0x40:
        return None
    count = int.from_bytes(value[1:3], "big") + 1
    size = 3 + 10 * count if counted else 4 + 7 * count
    if len(value) != size:
        raise AperError(f"cell list of {count} is {len(value)} octets, not {size}")
    return count


def read_cell_reports(value: bytes, counted: bool) -> list[tuple[bytes, int, int | None]] | None:
    """The cell form of a Broadcast-Scheduled-Area-List (`counted` False) or
    Broadcast-Cancelled-Area-List (True): [(plmn, cell id, broadcasts)]. None when the IE
    holds anything else (TAI or emergency-area forms, extensions): pycrate reads those.

    In the plain form every item has the same layout: a scheduled cell is 7 octets (its
    preamble nibble rides in the octet its predecessor's 28-bit cell id left open), a
    cancelled one 10 (preamble octet, PLMN, cell id, two-octet broadcast count)."""
    if len(value) < 4 or value[0] != 0x40:  # ext 0, the cell list only, no iE-Extensions
        return None
    count = int.from_bytes(value[1:3], "big") + 1
    size, first = (10, 3) if counted else (7, 4)
    end = first + size * count
    if len(value) < end:
        raise AperError(f"cell list of {count} cut short")
    if not counted and value[3]:
        return None
    out: list[tuple[bytes, int, int | None]] = []
    for at in range(first, end, size):
        if counted:
            if value[at]:  # an extension or iE-Extensions bit: not the plain form
                return None
            word = int.from_bytes(value[at + 4 : at + 8], "big")
            out.append((value[at + 1 : at + 4], word >> 4,
                        int.from_bytes(value[at + 8 : at + 10], "big")))  # fmt: skip
        else:
            word = int.from_bytes(value[at + 3 : at + 7], "big")
            if word & 0xF:  # the next item's preamble: not the plain form
                return None
            out.append((value[at : at + 3], word >> 4, None))
    return out
