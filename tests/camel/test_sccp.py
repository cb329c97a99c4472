"""SCCP connectionless messages: round trips, the octets of a hand-made UDT, refusals of
what is cut short, and tshark's SCCP dissector reading every form the codec writes."""

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
    Unitdata,
    decode,
    encode,
)
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
