"""Diameter codec cross-checked against python-diameter in both directions, and its errors."""

from __future__ import annotations

from ipaddress import ip_address

import pytest
from diameter.message import Message as PdMessage
from diameter.message.avp import Avp as Avp_
from diameter.message.commands.credit_control import CreditControlRequest
from diameter.message.constants import (
    AVP_CC_INPUT_OCTETS,
    AVP_CC_REQUEST_NUMBER,
    AVP_CC_REQUEST_TYPE,
    AVP_CC_TOTAL_OCTETS,
    AVP_MULTIPLE_SERVICES_CREDIT_CONTROL,
    AVP_RATING_GROUP,
    AVP_SESSION_ID,
    AVP_USED_SERVICE_UNIT,
)

from omnigw.diameter.codec import (
    FLAG_ERROR,
    FLAG_REQUEST,
    INVALID_AVP_BITS,
    INVALID_AVP_LENGTH,
    INVALID_HEADER_BITS,
    INVALID_MESSAGE_LENGTH,
    UNSUPPORTED_VERSION,
    Avp,
    DecodeError,
    Message,
    decode,
    encode,
    frame_length,
)
from tests.support import tshark

CCR = 272
GY = 4


def _python_diameter_ccr() -> bytes:
    ccr = CreditControlRequest()
    ccr.header.hop_by_hop_identifier = 0x1234
    ccr.header.end_to_end_identifier = 0x5678
    ccr.header.application_id = GY
    ccr.session_id = "pgw.example.net;1;2;3"
    ccr.origin_host = b"pgw.example.net"
    ccr.origin_realm = b"example.net"
    ccr.destination_realm = b"omnigw.example.net"
    ccr.auth_application_id = GY
    ccr.service_context_id = "32251@3gpp.org"
    ccr.cc_request_type = 2
    ccr.cc_request_number = 3
    used = Avp_.new(AVP_USED_SERVICE_UNIT)
    used.value = [Avp_.new(AVP_CC_TOTAL_OCTETS, value=1_000_000),
                  Avp_.new(AVP_CC_INPUT_OCTETS, value=400_000)]  # fmt: skip
    mscc = Avp_.new(AVP_MULTIPLE_SERVICES_CREDIT_CONTROL)
    mscc.value = [Avp_.new(AVP_RATING_GROUP, value=10), used]
    ccr.append_avp(mscc)
    return ccr.as_bytes()


def test_decodes_what_python_diameter_encodes() -> None:
    wire = _python_diameter_ccr()
    assert frame_length(wire) == len(wire)
    msg = decode(wire)
    assert (msg.command, msg.app_id, msg.hop_by_hop, msg.end_to_end) == (CCR, GY, 0x1234, 0x5678)
    assert msg.is_request and not msg.is_retransmission
    assert msg.find(AVP_SESSION_ID).text() == "pgw.example.net;1;2;3"  # type: ignore[union-attr]
    assert msg.find(AVP_CC_REQUEST_TYPE).u32() == 2  # type: ignore[union-attr]
    assert msg.find(AVP_CC_REQUEST_NUMBER).u32() == 3  # type: ignore[union-attr]
    [mscc] = msg.find_all(AVP_MULTIPLE_SERVICES_CREDIT_CONTROL)
    inner = {a.code: a for a in mscc.group()}
    assert inner[AVP_RATING_GROUP].u32() == 10
    used = {a.code: a.u64() for a in inner[AVP_USED_SERVICE_UNIT].group()}
    assert used == {AVP_CC_TOTAL_OCTETS: 1_000_000, AVP_CC_INPUT_OCTETS: 400_000}
    assert encode(msg) == wire  # byte-identical round trip


def test_python_diameter_decodes_what_we_encode() -> None:
    msg = Message(CCR, GY, 7, 9, FLAG_REQUEST, [
        Avp.of_text(AVP_SESSION_ID, "s;1"),
        Avp.of_u32(AVP_CC_REQUEST_TYPE, 1),
        Avp.of_u32(AVP_CC_REQUEST_NUMBER, 0),
        Avp.of_group(AVP_MULTIPLE_SERVICES_CREDIT_CONTROL, [Avp.of_u32(AVP_RATING_GROUP, 20)]),
        Avp.of_address(257, ip_address("127.0.0.1")),  # Host-IP-Address
        Avp.of_u32(1032, 1004, vendor=10415),  # 3GPP RAT-Type, vendor-specific
    ])  # fmt: skip
    parsed = PdMessage.from_bytes(encode(msg))
    assert isinstance(parsed, CreditControlRequest)
    assert parsed.session_id == "s;1"
    assert parsed.cc_request_type == 1 and parsed.cc_request_number == 0
    assert parsed.multiple_services_credit_control[0].rating_group == 20
    assert parsed.header.hop_by_hop_identifier == 7 and parsed.header.end_to_end_identifier == 9


def test_answer_keeps_ids_and_sets_error_bit_only_when_asked() -> None:
    request = Message(CCR, GY, 1, 2, FLAG_REQUEST | 0x40, [])
    answer = request.answer([Avp.of_u32(268, 2001)])
    assert not answer.is_request and answer.flags == 0x40
    assert (answer.hop_by_hop, answer.end_to_end) == (1, 2)
    assert request.answer([], error=True).flags & FLAG_ERROR


def test_padding_and_vendor_avps_round_trip() -> None:
    msg = Message(
        CCR, GY, 1, 2, FLAG_REQUEST, [Avp.of_text(1, "abc"), Avp.of_text(2, "x", vendor=10415)]
    )
    wire = encode(msg)
    assert len(wire) % 4 == 0
    again = decode(wire)
    assert [(a.code, a.vendor, a.text()) for a in again.avps] == [(1, 0, "abc"), (2, 10415, "x")]


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda w: b"\x02" + w[1:], UNSUPPORTED_VERSION),
        (lambda w: w[:4] + bytes([w[4] | 0x01]) + w[5:], INVALID_HEADER_BITS),
        (lambda w: w[:4] + bytes([w[4] | FLAG_ERROR]) + w[5:], INVALID_HEADER_BITS),
        (lambda w: w[:1] + (len(w) + 4).to_bytes(3, "big") + w[4:], INVALID_MESSAGE_LENGTH),
        (lambda w: w[: 20 + 5] + (999).to_bytes(3, "big") + w[28:], INVALID_AVP_LENGTH),
        (lambda w: w[: 20 + 4] + b"\x47" + w[25:], INVALID_AVP_BITS),
    ],
)
def test_errors_carry_the_result_code(mutate: object, code: int) -> None:
    wire = encode(Message(CCR, GY, 1, 2, FLAG_REQUEST, [Avp.of_u32(416, 1), Avp.of_u32(415, 0)]))
    with pytest.raises(DecodeError) as err:
        decode(mutate(wire))  # type: ignore[operator]
    assert err.value.result_code == code


def test_frame_length_refuses_impossible_lengths() -> None:
    assert frame_length(b"\x01\x00") is None
    with pytest.raises(DecodeError):
        frame_length(b"\x01\x00\x00\x10")  # shorter than the header
    with pytest.raises(DecodeError):
        frame_length(b"\x01\xff\xff\xfc")  # above the limit


def test_typed_readers_check_lengths() -> None:
    with pytest.raises(DecodeError) as err:
        Avp(416, b"\x00\x01").u32()
    assert err.value.result_code == INVALID_AVP_LENGTH and err.value.avp is not None
    assert Avp.of_u64(1, 2**40).u64() == 2**40
    assert Avp(55, (2208988800 + 86400).to_bytes(4, "big")).time() == 86400


@pytest.mark.skipif(not tshark.available(), reason="peer unavailable: tshark not installed")
def test_tshark_reads_our_ccr() -> None:
    msg = Message(CCR, GY, 7, 9, FLAG_REQUEST | 0x40, [
        Avp.of_text(AVP_SESSION_ID, "pgw;42"),
        Avp.of_text(264, "pgw.example.net"),  # Origin-Host
        Avp.of_text(296, "example.net"),  # Origin-Realm
        Avp.of_text(283, "omnigw.example.net"),  # Destination-Realm
        Avp.of_u32(258, GY),  # Auth-Application-Id
        Avp.of_text(461, "32251@3gpp.org"),  # Service-Context-Id
        Avp.of_u32(AVP_CC_REQUEST_TYPE, 1),
        Avp.of_u32(AVP_CC_REQUEST_NUMBER, 0),
        Avp.of_group(AVP_MULTIPLE_SERVICES_CREDIT_CONTROL, [Avp.of_u32(AVP_RATING_GROUP, 20)]),
    ])  # fmt: skip
    [row] = tshark.fields([encode(msg)], 3868, ["diameter.cmd.code", "diameter.Session-Id",
                                                "diameter.Rating-Group"])  # fmt: skip
    assert row["diameter.cmd.code"] == ["272"]
    assert row["diameter.Session-Id"] == ["pgw;42"]
    assert row["diameter.Rating-Group"] == ["20"]
    assert not row["_ws.malformed"] and not row["_ws.expert.message"], row
