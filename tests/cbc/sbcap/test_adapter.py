"""What the SBc-AP adapter puts in a request for a given MME, without sockets: the split of
a target by what each MME serves, List-of-TAIs, Warning-Area-List, repetition, OMC-ID, and
the Stop-Warning for cells an update left."""

from __future__ import annotations

from typing import Any

from omnigw.cbc.areas import Areas, Target
from omnigw.cbc.delivery import AlertProgress, DeliveryState
from omnigw.cbc.messages import GeoScope, Page
from omnigw.cbc.runtime import AlertRt, MessageRt, PeerRuntime, Runtime
from omnigw.cbc.sbcap.adapter import SbcapSouthbound
from omnigw.cbc.sbcap.codec import (
    Ecgi,
    StopWarningRequest,
    Tai,
    WarningArea,
    WriteReplaceWarningRequest,
    decode,
)
from omnigw.cbc.writer import DeliveryRow
from omnigw.config import CbcConfig, CbcPeer, SbcapSettings

AREAS = Areas(CbcConfig())
MME = {"protocol": "sbcap", "address": "127.0.0.1", "tais": ["901-70-1", "901-70-2"]}


def _peer(**kw: Any) -> PeerRuntime:
    cfg = CbcPeer.model_validate({"name": "mme1", **MME, **kw})
    return Runtime([cfg], {"sbcap": (10.0, 3)}).peers["mme1"]


def _message(target: Target, repetition: int = 60, warning_type: int | None = None) -> MessageRt:
    alert = AlertRt(
        id="a", state="active", alert_class=None, priority=0, category=2,
        repetition_seconds=repetition, broadcasts=0, target=target, source="api",
        external_ref=None, expires_at=None, accepted_at=0.0, progress=AlertProgress(),
    )  # fmt: skip
    pages = () if warning_type is not None else (Page(bytes(82), 10),)
    return MessageRt(1, alert, 4370, int(target.scope), 5, 0, 0x01, pages, warning_type, "en",
                     False)  # fmt: skip


def _row(confirmed: int | None = None) -> DeliveryRow:
    return DeliveryRow(1, DeliveryState.PENDING, 0, confirmed, None, None, None, None, None)


def _write(peer: PeerRuntime, message: MessageRt, **settings: Any) -> WriteReplaceWarningRequest:
    south = SbcapSouthbound(SbcapSettings(**settings), peer_runtime(peer), None)  # type: ignore[arg-type]
    request = south.write(peer, message, _row())
    assert request is not None
    pdu, wire = request
    assert decode(wire) == pdu  # what goes on the wire is what was meant
    assert isinstance(pdu, WriteReplaceWarningRequest)
    return pdu


def peer_runtime(peer: PeerRuntime) -> Runtime:
    runtime = Runtime([], {})
    runtime.peers[peer.cfg.name] = peer
    return runtime


def test_plmn_wide_is_the_mmes_tracking_areas_and_no_warning_area() -> None:
    pdu = _write(_peer(), _message(AREAS.plmn()))
    assert pdu.tais == (Tai("901-70", 1), Tai("901-70", 2)) and pdu.warning_area is None
    assert (pdu.repetition_period, pdu.extended_repetition_period) == (60, None)
    assert pdu.concurrent and pdu.send_indication and pdu.omc_id is None
    assert pdu.dcs == 0x01 and pdu.content == bytes([1]) + bytes(82) + bytes([10])


def test_tracking_areas_go_only_where_served() -> None:
    message = _message(AREAS.tais(["901-70-2", "901-70-9"]))
    assert _write(_peer(), message).tais == (Tai("901-70", 2),)
    south = SbcapSouthbound(SbcapSettings(), Runtime([], {}), None)  # type: ignore[arg-type]
    assert south.write(_peer(tais=["901-70-7"]), message, _row()) is None  # not this MME's


def test_cells_and_emergency_areas_go_as_the_warning_area_list_for_this_mme() -> None:
    target = AREAS.ecgis(["901-70-10", "901-70-11", "901-70-12"])
    pdu = _write(_peer(cells=["901-70-11", "901-70-12"]), _message(target))
    assert pdu.warning_area == WarningArea(ecgis=(Ecgi("901-70", 11), Ecgi("901-70", 12)))
    eai = _write(_peer(emergency_areas=[7]), _message(AREAS.emergency_areas([7, 8])))
    assert eai.warning_area == WarningArea(emergency_areas=(7,))
    assert eai.tais == (Tai("901-70", 1), Tai("901-70", 2))


def test_gsm_targets_are_not_for_an_mme() -> None:
    south = SbcapSouthbound(SbcapSettings(), Runtime([], {}), None)  # type: ignore[arg-type]
    for target in (AREAS.cells(["901-70-1-1"]), AREAS.lacs([1]), AREAS.lais(["901-70-1"])):
        assert south.write(_peer(), _message(target), _row()) is None


def test_a_long_repetition_goes_extended_and_etws_has_its_own_ies() -> None:
    pdu = _write(_peer(), _message(AREAS.plmn(), repetition=4096))
    assert (pdu.repetition_period, pdu.extended_repetition_period) == (4095, 4096)
    etws = _write(_peer(), _message(AREAS.plmn(), warning_type=0x0180))
    assert not etws.concurrent and etws.warning_type == b"\x01\x80"
    assert etws.warning_security == bytes(50) and etws.content is None


def test_the_omc_id_goes_when_configured() -> None:
    assert _write(_peer(), _message(AREAS.plmn()), omc_id="0a0b0c").omc_id == b"\x0a\x0b\x0c"


def test_cells_an_update_left_get_a_stop_warning() -> None:
    peer = _peer()
    before = AREAS.ecgis(["901-70-10", "901-70-11"])
    message = _message(AREAS.ecgis(["901-70-11"]))
    south = SbcapSouthbound(SbcapSettings(), peer_runtime(peer), None)  # type: ignore[arg-type]
    assert south.kill_left(peer, message, _row(), before) is None  # never confirmed: no stop
    stop, _ = south.kill_left(peer, message, _row(confirmed=message.serial), before) or (None, None)
    assert isinstance(stop, StopWarningRequest)
    assert stop.warning_area == WarningArea(ecgis=(Ecgi("901-70", 10),))
    assert stop.serial == message.serial and GeoScope(message.geo_scope) is GeoScope.CELL
