"""SCCP connectionless messages: round trips, the octets of a hand-made UDT, refusals of
what is cut short, tshark's SCCP dissector reading every form the codec writes, and XUDT
segmentation both ways."""

from __future__ import annotations

import pytest

from omnigw.camel.m3ua.codec import DATA, PPID, ProtocolData, Tag, message
from omnigw.camel.m3ua.codec import encode as m3ua
from omnigw.camel.sccp.codec import (
    CAP_SSN,
    Address,
    DecodeError,
    GlobalTitle,
    MsgType,
    ReturnCause,
    Segment,
    Unitdata,
    decode,
    encode,
)
from omnigw.camel.sccp.segments import Reassembly, split
from tests.support import tshark

SCF = Address(ssn=CAP_SSN, gt=GlobalTitle("34600000001"), route_on_ssn=False)
MSC = Address(ssn=CAP_SSN, point_code=100, gt=GlobalTitle("346000099"), route_on_ssn=False)
FORMS = [
    Unitdata(SCF, MSC, b"\x62\x03\x48\x01\x01", return_on_error=True),
    Unitdata(SCF, MSC, b"\x62\x03\x48\x01\x01", hop_counter=15),
    Unitdata(MSC, SCF, b"\x62", return_cause=ReturnCause.SUBSYSTEM_FAILURE),
    Unitdata(MSC, SCF, b"\x62", hop_counter=14, return_cause=ReturnCause.UNEQUIPPED_USER),
]


@pytest.mark.parametrize("msg", FORMS, ids=lambda m: m.type.name)
def test_every_form_round_trips(msg: Unitdata) -> None:
    wire = encode(msg)
    assert wire[0] == msg.type
    assert decode(wire) == msg


def test_a_udt_routed_on_ssn_is_the_octets_q713_gives() -> None:
    udt = Unitdata(Address(ssn=254, point_code=200), Address(ssn=254, point_code=100),
                   b"\x01\x02\x03")  # fmt: skip
    octets = bytes.fromhex("090003070b" "0443c800fe" "0443" "6400fe" "03" "010203")  # fmt: skip
    assert encode(udt) == octets
    assert udt.type is MsgType.UDT


@pytest.mark.parametrize(
    "raw",
    [b"\x09\x00", b"\x05\x00\x03\x07\x0b", bytes.fromhex("090003070b" "09"),
     bytes.fromhex("0900000000" "00")],
)  # fmt: skip
def test_what_is_cut_short_or_not_unitdata_is_refused(raw: bytes) -> None:
    with pytest.raises(DecodeError):
        decode(raw)


def test_tshark_reads_every_form_with_its_addresses() -> None:
    wires = [m3ua(message(DATA, (Tag.PROTOCOL_DATA,
                                 ProtocolData(100, 200, 3, 2, 0, 1, encode(m)).encode())))
             for m in FORMS]  # fmt: skip
    rows = tshark.upper_pdu_fields(wires, "sctp.ppi", PPID,
                                   ["sccp.message_type", "sccp.called.digits",
                                    "sccp.calling.digits", "sccp.calling.ssn",
                                    "sccp.return_cause"])  # fmt: skip
    assert len(rows) == len(FORMS)
    for msg, row in zip(FORMS, rows, strict=True):
        assert row["sccp.message_type"] == [f"0x{msg.type:02x}"]
        assert not row["_ws.malformed"] and not row["_ws.expert.message"], (msg, row)
        assert row["sccp.called.digits"] == [msg.called.gt.digits]  # type: ignore[union-attr]
        assert row["sccp.calling.ssn"] == [str(CAP_SSN)]
    assert rows[2]["sccp.return_cause"] == ["0x03"]


def test_an_xudt_segment_carries_its_segmentation_parameter() -> None:
    segment = Segment(first=True, remaining=2, reference=0xABCDEF)
    msg = Unitdata(SCF, MSC, b"\x62" * 40, hop_counter=15, segment=segment)
    wire = encode(msg)
    assert wire[1] & 0x0F == 1  # protocol class 1: in sequence
    assert wire[-7:] == bytes.fromhex("1004c2abcdef00")  # F, class 1, 2 to come
    assert decode(wire) == msg
    payload = ProtocolData(100, 200, 3, 2, 0, 1, wire).encode()
    rows = tshark.upper_pdu_fields(
        [m3ua(message(DATA, (Tag.PROTOCOL_DATA, payload)))], "sctp.ppi", PPID,
        ["sccp.segmentation.remaining", "sccp.segmentation.slr"],
    )  # fmt: skip
    assert not rows[0]["_ws.malformed"] and not rows[0]["_ws.expert.message"], rows
    assert rows[0]["sccp.segmentation.remaining"] == ["0x02"]


def test_a_long_message_goes_in_segments_and_comes_back_whole() -> None:
    data = bytes(range(256)) * 3  # 768 octets: four segments of at most 200
    pieces = split(SCF, MSC, data, reference=7)
    assert [p.segment.remaining for p in pieces if p.segment] == [3, 2, 1, 0]
    assert all(len(encode(p)) <= 272 for p in pieces)
    table = Reassembly()
    got = [table.add(decode(encode(p)), now=0.0) for p in pieces]
    assert got[:3] == [None, None, None]
    whole = got[3]
    assert isinstance(whole, Unitdata) and whole.data == data and whole.segment is None
    assert len(table) == 0
    assert split(SCF, MSC, b"short", 1) == [Unitdata(SCF, MSC, b"short", hop_counter=15)]


def test_reassembly_drops_what_is_out_of_order_late_or_too_much() -> None:
    pieces = split(SCF, MSC, bytes(600), reference=9)
    table = Reassembly(capacity=1, timeout=10.0)
    assert table.add(pieces[0], 0.0) is None
    assert table.add(pieces[2], 1.0) == "a segment out of sequence"
    assert table.add(pieces[1], 1.0) == "a segment of no message being reassembled"
    assert table.add(pieces[0], 2.0) is None
    other = split(MSC, SCF, bytes(600), reference=1)
    assert table.add(other[0], 2.0) == "too many messages being reassembled"
    assert table.expired(11.9) == 0 and table.expired(12.0) == 1 and len(table) == 0
    lone = Unitdata(SCF, MSC, b"x", hop_counter=15, segment=Segment(True, 0, 5))
    assert table.add(lone, 0.0) == Unitdata(SCF, MSC, b"x", hop_counter=15)
