"""The hand-written APER parts against pycrate, the reference: PDU framing, open-type lengths
with fragments, and the per-cell lists, value for value and octet for octet."""

from __future__ import annotations

from typing import Any

import pytest

from omnigw.cbc.sbcap import aper, asn
from omnigw.cbc.sbcap.codec import plmn_bytes
from tests.cbc.sbcap.test_codec import GOLDEN

IES = asn.SBC_AP_IEs
PLMN = plmn_bytes("901-70")


def _pycrate(obj: Any, value: Any) -> bytes:
    obj.set_val(value)
    return bytes(obj.to_aper())


@pytest.mark.parametrize("pdu", GOLDEN, ids=lambda p: type(p).__name__)
def test_pdu_framing_is_pycrates_to_the_octet(pdu: Any) -> None:
    from omnigw.cbc.sbcap.codec import encode

    wire = encode(pdu)
    reference = asn.SBC_AP_PDU_Descriptions.SBC_AP_PDU
    reference.from_aper(wire)
    assert bytes(reference.to_aper()) == wire


@pytest.mark.parametrize("size", [0, 1, 127, 128, 16383, 16384, 16385, 65536, 65536 * 2 + 7])
def test_open_type_lengths_round_trip_with_fragments(size: int) -> None:
    value = bytes(i % 251 for i in range(size))
    framed = aper.open_type(value) + b"tail"
    assert aper.read_open_type(framed, 0) == (value, len(framed) - 4)


@pytest.mark.parametrize("count", [1, 2, 300, 3000])
def test_warning_area_lists_match_pycrate(count: int) -> None:
    cells = [(PLMN, i * 7919 % (1 << 28)) for i in range(count)]
    ecgis = [{"pLMNidentity": p, "cell-ID": (c, 28)} for p, c in cells]
    assert aper.ecgi_list(cells) == _pycrate(IES.Warning_Area_List, ("cell-ID-List", ecgis))
    tais = [(PLMN, i % 65536) for i in range(count)]
    value = [{"pLMNidentity": p, "tAC": t.to_bytes(2, "big")} for p, t in tais]
    expected = _pycrate(IES.Warning_Area_List, ("tracking-Area-List-for-Warning", value))
    assert aper.tai_list(tais) == expected
    areas = list(range(1, count + 1))
    value = [a.to_bytes(3, "big") for a in areas]
    expected = _pycrate(IES.Warning_Area_List, ("emergency-Area-ID-List", value))
    assert aper.emergency_area_list(areas) == expected


@pytest.mark.parametrize("count", [1, 300, 3000])
def test_reported_cell_lists_read_as_pycrate_writes_them(count: int) -> None:
    cells = [(PLMN, i * 7919 % (1 << 28)) for i in range(count)]
    scheduled = _pycrate(IES.Broadcast_Scheduled_Area_List, {"cellId-Broadcast-List": [
        {"eCGI": {"pLMNidentity": p, "cell-ID": (c, 28)}} for p, c in cells]})  # fmt: skip
    assert aper.read_cell_reports(scheduled, counted=False) == [(p, c, None) for p, c in cells]
    cancelled = _pycrate(IES.Broadcast_Cancelled_Area_List, {"cellID-Cancelled-List": [
        {"eCGI": {"pLMNidentity": p, "cell-ID": (c, 28)}, "numberOfBroadcasts": n % 65536}
        for n, (p, c) in enumerate(cells)]})  # fmt: skip
    expected = [(p, c, n % 65536) for n, (p, c) in enumerate(cells)]
    assert aper.read_cell_reports(cancelled, counted=True) == expected
    # and written as pycrate writes them
    assert aper.cell_reports([(p, c, 0) for p, c in cells], counted=False) == scheduled
    assert aper.cell_reports(expected, counted=True) == cancelled  # type: ignore[arg-type]


def test_other_forms_of_reported_areas_are_left_to_pycrate() -> None:
    tai = {"pLMNidentity": PLMN, "tAC": b"\x00\x01"}
    item = {"tAI": tai, "scheduledCellinTAI": [{"eCGI": {"pLMNidentity": PLMN,
                                                         "cell-ID": (5, 28)}}]}  # fmt: skip
    value = _pycrate(IES.Broadcast_Scheduled_Area_List, {"tAI-Broadcast-List": [item]})
    assert aper.read_cell_reports(value, counted=False) is None


def test_a_list_shorter_than_its_count_is_an_error() -> None:
    with pytest.raises(aper.AperError):
        aper.read_cell_reports(bytes([0x40, 0x00, 0x05, 0x00]) + bytes(7), counted=False)
