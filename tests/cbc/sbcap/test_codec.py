"""SBc-AP PDUs round trip through our codec, and tshark's sbcap dissector reads what we
write: field values as we meant them, no malformed packet, no expert warning."""

from __future__ import annotations

import pytest

from omnigw.cbc.sbcap.codec import (
    PPID,
    CellReport,
    DecodeError,
    Ecgi,
    EnbId,
    ErrorIndication,
    Pdu,
    PwsFailureIndication,
    PwsRestartIndication,
    Report,
    StopWarningIndication,
    StopWarningRequest,
    StopWarningResponse,
    Tai,
    WarningArea,
    WriteReplaceWarningIndication,
    WriteReplaceWarningRequest,
    WriteReplaceWarningResponse,
    decode,
    encode,
    peek_report,
    plmn_bytes,
    plmn_text,
)
from tests.support import tshark

CELLS = (Ecgi("901-70", 0x1234501), Ecgi("901-70", 0x1234502))
TAIS = (Tai("901-70", 0x0101), Tai("001-001", 7))
ENB = EnbId("901-70", "macroENB-ID", 0x12345)

GOLDEN: list[Pdu] = [
    WriteReplaceWarningRequest(
        message_id=4370, serial=0x3001, repetition_period=60, broadcasts=0, tais=TAIS,
        warning_area=WarningArea(ecgis=CELLS), dcs=0x0F, content=bytes(88),
        omc_id=b"omc-1", concurrent=True, send_indication=True,
    ),
    WriteReplaceWarningRequest(  # ETWS: warning type and security information, no content
        message_id=4352, serial=0x1002, repetition_period=0, broadcasts=1,
        warning_area=WarningArea(tais=TAIS), warning_type=bytes([0x05, 0x80]),
        warning_security=bytes(50),
    ),
    WriteReplaceWarningRequest(  # every 2 hours: past Repetition-Period's 4095 s
        message_id=4383, serial=0x0010, repetition_period=0, broadcasts=0,
        warning_area=WarningArea(emergency_areas=(0x010203,)), extended_repetition_period=7200,
    ),
    WriteReplaceWarningResponse(4370, 0x3001, cause=0),
    WriteReplaceWarningResponse(4370, 0x3001, cause=4, unknown_tais=TAIS[1:]),
    StopWarningRequest(4370, 0x3001, tais=TAIS, warning_area=WarningArea(ecgis=CELLS)),
    StopWarningResponse(4370, 0x3001, cause=0),
    ErrorIndication(cause=5),
    WriteReplaceWarningIndication(4370, 0x3001, scheduled=(CellReport("901-70", CELLS[0].eci),)),
    StopWarningIndication(4370, 0x3001, cancelled=(CellReport("901-70", CELLS[1].eci, 12),)),
    PwsRestartIndication(restarted=CELLS, enb=ENB, tais=TAIS, emergency_areas=(0x010203,)),
    PwsFailureIndication(failed=CELLS[:1], enb=ENB),
]  # fmt: skip


def test_plmn_identities_are_tbcd() -> None:
    assert plmn_bytes("901-70") == bytes([0x09, 0xF1, 0x07])
    assert plmn_bytes("310-410") == bytes([0x13, 0x00, 0x14])
    assert plmn_text(plmn_bytes("310-410")) == "310-410"
    assert plmn_text(plmn_bytes("001-01")) == "001-01"


@pytest.mark.parametrize("pdu", GOLDEN, ids=lambda p: type(p).__name__)
def test_round_trip(pdu: Pdu) -> None:
    assert decode(encode(pdu)) == pdu


def test_tshark_reads_every_pdu_as_we_meant_it() -> None:
    wires = [encode(p) for p in GOLDEN]
    names = ["sbc-ap.procedureCode", "sbc-ap.Message_Identifier", "sbc-ap.Repetition_Period",
             "sbc-ap.Extended_Repetition_Period", "sbc-ap.Cause"]  # fmt: skip
    rows = tshark.upper_pdu_fields(wires, "sctp.ppi", PPID, names)
    assert len(rows) == len(GOLDEN)
    for pdu, row in zip(GOLDEN, rows, strict=True):
        assert not row["_ws.malformed"] and not row["_ws.expert.message"], (pdu, row)
        assert row["sbc-ap.procedureCode"] == [str(pdu.procedure[0])]
    request, etws, long = rows[0], rows[1], rows[2]
    assert request["sbc-ap.Message_Identifier"] == ["4370"]
    assert request["sbc-ap.Repetition_Period"] == ["60"]
    assert long["sbc-ap.Extended_Repetition_Period"] == ["7200"]
    assert rows[4]["sbc-ap.Cause"] == ["4"]  # tracking-area-not-valid
    assert etws["sbc-ap.Message_Identifier"] == ["4352"]


def test_bytes_that_are_not_sbcap_are_refused_with_a_cause() -> None:
    with pytest.raises(DecodeError) as bad:
        decode(b"\x00\x01\x02")
    assert bad.value.cause == 13  # transfer-syntax-error


def test_threads_never_share_the_pdu_object_mid_message() -> None:
    """pycrate's PDU is one object per process: the codec holds it for a whole message."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda p: decode(encode(p)), GOLDEN * 10))
    assert results == GOLDEN * 10


def test_a_warning_area_of_20000_cells_is_written_whole() -> None:
    """Past 16383 octets APER fragments the IE's length; tshark reads every IE after it."""
    cells = tuple(Ecgi("901-70", i) for i in range(20_000))
    pdu = WriteReplaceWarningRequest(4370, 1, 60, 0, warning_area=WarningArea(ecgis=cells),
                                     dcs=0x0F, content=bytes(88))  # fmt: skip
    [row] = tshark.upper_pdu_fields([encode(pdu)], "sctp.ppi", PPID,
                                    ["sbc-ap.Data_Coding_Scheme", "sbc-ap.cell_ID"])  # fmt: skip
    assert not row["_ws.malformed"] and not row["_ws.expert.message"]
    assert len(row["sbc-ap.cell_ID"]) == 20_000 and row["sbc-ap.Data_Coding_Scheme"] == ["0f"]


def test_a_20000_cell_request_round_trips_with_the_ies_after_its_list() -> None:
    """pycrate's own decoder loses every IE after an open type longer than 16,383 octets."""
    cells = tuple(Ecgi("901-70", i) for i in range(20_000))
    pdu = WriteReplaceWarningRequest(4370, 1, 60, 0, warning_area=WarningArea(ecgis=cells),
                                     dcs=0x0F, content=bytes(88))  # fmt: skip
    assert decode(encode(pdu)) == pdu


def test_an_indication_of_cells_is_peeked_as_its_full_decoding_reads_it() -> None:
    cells = tuple(CellReport("901-70", i * 7919 % (1 << 28), i % 7) for i in range(1000))
    for pdu, kind in ((WriteReplaceWarningIndication(4370, 0x3011, cells), "scheduled"),
                      (StopWarningIndication(4370, 0x3011, cells), "stopped")):  # fmt: skip
        wire = encode(pdu)
        full = decode(wire)
        report = peek_report(wire)
        assert report == Report(kind, full.message_id, full.serial, 1000)  # type: ignore[union-attr]
    assert peek_report(encode(WriteReplaceWarningResponse(4370, 1, 0))) is None
    with pytest.raises(DecodeError):  # a list cut short is refused, not counted
        peek_report(encode(WriteReplaceWarningIndication(4370, 1, cells))[:-7])
