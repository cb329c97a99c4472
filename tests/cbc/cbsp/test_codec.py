"""CBSP codec: golden vectors, round trips for every message type, tshark cross-check, errors."""

from __future__ import annotations

import pytest

from omnigw.cbc.cbsp.codec import (
    Cause,
    CellCount,
    CellFailure,
    CellId,
    CellList,
    CellLoad,
    Content,
    DecodeError,
    Discriminator,
    MsgType,
    Pdu,
    decode,
    encode,
    frame_length,
    period_code,
    period_seconds,
)
from omnigw.cbc.messages import Category, encode_text
from tests.support import tshark

CGI = CellId("901", "70", 23, 0)
CGI3 = CellId("310", "410", 0x1234, 0xABCD)
LISTS = {
    Discriminator.CGI: CellList(Discriminator.CGI, (CGI, CGI3)),
    Discriminator.LAC_CI: CellList(Discriminator.LAC_CI, (CellId(lac=1, ci=2),)),
    Discriminator.CI: CellList(Discriminator.CI, (CellId(ci=7), CellId(ci=8))),
    Discriminator.LAI: CellList(Discriminator.LAI, (CellId("001", "01", 5),)),
    Discriminator.LAC: CellList(Discriminator.LAC, (CellId(lac=5),)),
    Discriminator.ALL_IN_BSC: CellList(Discriminator.ALL_IN_BSC),
}

# Written by hand from TS 48.049 chapter 8, not by the encoder.
GOLDEN = {
    "keep-alive 30 s": (Pdu(MsgType.KEEP_ALIVE, keepalive_period=30), "160000021814"),
    "keep-alive complete": (Pdu(MsgType.KEEP_ALIVE_COMPLETE), "17000000"),
    "reset all cells": (
        Pdu(MsgType.RESET, cell_list=LISTS[Discriminator.ALL_IN_BSC]),
        "1000000404000106",
    ),
    "kill one CGI": (
        Pdu(
            MsgType.KILL,
            message_id=4370,
            old_serial=0x4010,
            cell_list=CellList(Discriminator.CGI, (CGI,)),
        ),
        "040000110e11120240100400080009f10700170000",
    ),
    "error indication": (
        Pdu(MsgType.ERROR_INDICATION, cause=Cause.MISSING_MANDATORY_IE, message_id=4370),
        "150000050b050e1112",
    ),
}


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_vectors(name: str) -> None:
    pdu, hexstr = GOLDEN[name]
    assert encode(pdu).hex() == hexstr
    assert decode(bytes.fromhex(hexstr)) == pdu


def _samples() -> list[Pdu]:
    text = encode_text("Evacuate the coastal area now. " * 4, "en")
    pages = tuple(Content(p.content, p.length) for p in text.pages)
    counts = (CellCount(CGI, 3, 0), CellCount(CGI3, 65535, 1))
    failures = (
        CellFailure(Discriminator.CGI, CGI, Cause.CELL_ID_NOT_VALID),
        CellFailure(Discriminator.LAC, CellId(lac=9), Cause.CB_NOT_OPERATIONAL),
    )
    out = [
        Pdu(
            MsgType.WRITE_REPLACE,
            message_id=4370,
            new_serial=0x4010,
            cell_list=LISTS[d],
            channel=0,
            category=Category.HIGH_PRIORITY,
            repetition_period=5,
            broadcasts_requested=0,
            number_of_pages=len(pages),
            dcs=text.dcs,
            content=pages,
        )
        for d in LISTS
    ]
    out += [
        Pdu(MsgType.WRITE_REPLACE, message_id=4352, new_serial=0x4020, old_serial=0x4010,
            cell_list=LISTS[Discriminator.CGI], emergency=1, warning_type=0x0180,
            warning_security=bytes(range(50)), warning_period=30),
        Pdu(MsgType.WRITE_REPLACE_COMPLETE, message_id=4370, new_serial=0x4010,
            completed_discriminator=Discriminator.CGI, completed=counts, channel=0),
        Pdu(MsgType.WRITE_REPLACE_FAILURE, message_id=4370, new_serial=0x4010, failures=failures,
            completed_discriminator=Discriminator.CGI, completed=counts[:1],
            cell_list=LISTS[Discriminator.LAC_CI]),
        Pdu(MsgType.KILL, message_id=4370, old_serial=0x4010, cell_list=LISTS[Discriminator.LAI],
            channel=1),
        Pdu(MsgType.KILL_COMPLETE, message_id=4370, old_serial=0x4010,
            completed_discriminator=Discriminator.LAC, completed=(CellCount(CellId(lac=5), 1, 2),)),
        Pdu(MsgType.KILL_FAILURE, message_id=4370, old_serial=0x4010, failures=failures),
        Pdu(MsgType.LOAD_QUERY, cell_list=LISTS[Discriminator.CI], channel=0),
        Pdu(MsgType.LOAD_QUERY_COMPLETE, loading_discriminator=Discriminator.CGI,
            loading=(CellLoad(CGI, 10, 20),), channel=0),
        Pdu(MsgType.LOAD_QUERY_FAILURE, failures=failures, channel=0),
        Pdu(MsgType.MSG_STATUS_QUERY, message_id=4371, old_serial=0x4011,
            cell_list=LISTS[Discriminator.CGI], channel=0),
        Pdu(MsgType.MSG_STATUS_QUERY_COMPLETE, message_id=4371, old_serial=0x4011,
            completed_discriminator=Discriminator.CGI, completed=counts, channel=0),
        Pdu(MsgType.MSG_STATUS_QUERY_FAILURE, message_id=4371, old_serial=0x4011,
            failures=failures, channel=0),
        Pdu(MsgType.SET_DRX, cell_list=LISTS[Discriminator.CGI], schedule_period=2,
            reserved_slots=1, channel=0),
        Pdu(MsgType.SET_DRX_COMPLETE, cell_list=LISTS[Discriminator.CGI], channel=0),
        Pdu(MsgType.SET_DRX_FAILURE, failures=failures, channel=0),
        Pdu(MsgType.RESET, cell_list=LISTS[Discriminator.ALL_IN_BSC]),
        Pdu(MsgType.RESET_COMPLETE, cell_list=LISTS[Discriminator.CGI]),
        Pdu(MsgType.RESET_FAILURE, failures=failures, cell_list=LISTS[Discriminator.CGI]),
        Pdu(MsgType.RESTART, cell_list=LISTS[Discriminator.CGI], broadcast_type=0, recovery=1),
        Pdu(MsgType.FAILURE, cell_list=LISTS[Discriminator.CGI], broadcast_type=1),
        Pdu(MsgType.ERROR_INDICATION, cause=Cause.PARAM_VALUE_INVALID, message_id=1,
            new_serial=2, old_serial=3, channel=0),
        Pdu(MsgType.KEEP_ALIVE, keepalive_period=600),
        Pdu(MsgType.KEEP_ALIVE_COMPLETE),
    ]  # fmt: skip
    return out


def test_every_message_type_round_trips() -> None:
    samples = _samples()
    assert {p.type for p in samples} == set(MsgType)
    for pdu in samples:
        wire = encode(pdu)
        assert frame_length(wire) == len(wire)
        assert decode(wire) == pdu, pdu.type


@pytest.mark.skipif(not tshark.available(), reason="peer unavailable: tshark not installed")
def test_tshark_dissects_every_message_cleanly() -> None:
    samples = _samples()
    rows = tshark.fields(
        [encode(p) for p in samples],
        48049,
        ["cbsp.msg_type", "cbsp.message_id", "cbsp.cell_id_disc", "cbsp.cb_page_content",
         "cbsp.num_of_pages", "cbsp.cause", "cbsp.ci"],
    )  # fmt: skip
    assert len(rows) == len(samples)
    for pdu, row in zip(samples, rows, strict=True):
        assert row["cbsp.msg_type"] == [str(int(pdu.type))], pdu.type
        assert not row["_ws.malformed"], (pdu.type, row)
        assert "Error" not in row["_ws.expert.severity"] and not row["_ws.expert.message"], row
        if pdu.message_id is not None:
            assert [int(v, 0) for v in row["cbsp.message_id"]] == [pdu.message_id]
    text = "".join(rows[0]["cbsp.cb_page_content"])
    assert "Evacuate the coastal area now." in text
    assert rows[0]["cbsp.num_of_pages"] == ["2"]


def test_periods() -> None:
    assert period_code(30) == 0x14 and period_seconds(0x14) == 30
    for seconds in (0, 1, 10, 11, 30, 31, 120, 600, 601, 6000):
        assert period_seconds(period_code(seconds)) >= min(seconds, 6000)
    with pytest.raises(ValueError):
        period_seconds(0xBB)


@pytest.mark.parametrize(
    ("hexstr", "cause"),
    [
        ("ff000000", Cause.UNRECOGNISED_MESSAGE),
        ("10000003040001", Cause.PARAM_VALUE_INVALID),  # length mismatch
        ("10000000", Cause.MISSING_MANDATORY_IE),  # RESET without cell list
        ("1000000404000109", Cause.PARAM_VALUE_INVALID),  # bad discriminator
        ("100000029900", Cause.PARAM_NOT_RECOGNISED),  # unknown IE
        ("010000080e111203401004", Cause.PARAM_VALUE_INVALID),  # truncated list
        ("010000110e1112034010040001060500020006", Cause.PARAM_VALUE_INVALID),
        ("0100000a0e111203401004000106", Cause.MISSING_MANDATORY_IE),  # no content
    ],
)
def test_malformed_pdus_carry_the_cause(hexstr: str, cause: Cause) -> None:
    with pytest.raises(DecodeError) as err:
        decode(bytes.fromhex(hexstr))
    assert err.value.cause == cause, err.value.reason


def test_error_keeps_what_was_read_for_the_answer() -> None:
    wire = bytes.fromhex("0100000a0e111203401004000106")
    with pytest.raises(DecodeError) as err:
        decode(wire)
    assert err.value.pdu is not None and err.value.pdu.message_id == 4370


def test_oversized_length_is_refused_before_reading() -> None:
    with pytest.raises(DecodeError):
        frame_length(bytes.fromhex("01ffffff"))
    assert frame_length(b"\x01\x00") is None


def test_peek_agrees_with_decode_for_every_sample() -> None:
    from omnigw.cbc.cbsp.codec import peek

    for pdu in _samples():
        summary = peek(encode(pdu))
        assert (summary.type, summary.message_id, summary.new_serial, summary.old_serial) == (
            pdu.type, pdu.message_id, pdu.new_serial, pdu.old_serial,
        )  # fmt: skip


@pytest.mark.parametrize(
    "hexstr",
    [
        "ff000000",
        "020000030e1112",  # COMPLETE without new serial
        "0200000b0e111203401008000109",  # bad discriminator
        "0200000d0e1112034010080003000102",  # list not whole entries
    ],
)
def test_peek_refuses_what_decode_refuses(hexstr: str) -> None:
    from omnigw.cbc.cbsp.codec import peek

    frame = bytes.fromhex(hexstr)
    with pytest.raises(DecodeError):
        decode(frame)
    with pytest.raises(DecodeError):
        peek(frame)
