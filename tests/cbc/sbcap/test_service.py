"""The CBC service against simulated MMEs over SBc-AP (framed over TCP here; the SCTP lane
runs the same over kernel SCTP). The MME cases of osmo-ttcn3-hacks cbc/CBC_Tests.ttcn, as
they apply to a CBC: create and delete with indications, unknown TAIs, a refusal, a BSC and
an MME together, the MME as server and as client, concurrent messages, ETWS, cell failure
and eNB restart while idle and while active; and what an MME's silence or absence does."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from omnigw.cbc.api import alert_view
from omnigw.cbc.areas import Areas
from omnigw.cbc.messages import AlertClass
from omnigw.cbc.sbcap.causes import Cause
from omnigw.cbc.sbcap.codec import (
    Ecgi,
    ErrorIndication,
    StopWarningRequest,
    Tai,
    WarningArea,
    WriteReplaceWarningRequest,
)
from omnigw.cbc.service import AlertSpec, CbcService, Text
from omnigw.config import CbcConfig
from omnigw.sim.bsc import connect as bsc_connect
from omnigw.sim.mme import SimMme, dial, listen
from omnigw.transport.open import Listener
from tests.support.ports import free_port
from tests.support.waiting import until

PLMN = "901-70"
TAI_1, TAI_2, TAI_X = Tai(PLMN, 1), Tai(PLMN, 2), Tai(PLMN, 99)
CELLS = [Ecgi(PLMN, 0x1000 + i) for i in range(4)]


def _config(mmes: list[dict[str, Any]], bscs: list[dict[str, Any]] = (), **sbcap: Any) -> CbcConfig:  # type: ignore[assignment]
    peers = [{"protocol": "sbcap", "tais": ["901-70-1", "901-70-2"], **m} for m in mmes]
    return CbcConfig.model_validate({
        "cbsp": {"port": free_port(), "answer_timeout_seconds": 1},
        "sbcap": {"transport": "tcp", "port": free_port(), "answer_timeout_seconds": 0.5,
                  "reconnect_max_seconds": 0.2, **sbcap},
        "peers": peers + list(bscs),
    })  # fmt: skip


class Fleet:
    """Simulated MMEs listening, as MMEs do, and the service connecting to them."""

    def __init__(self) -> None:
        self.listeners: list[Listener] = []

    async def mme(self, **kw: Any) -> tuple[SimMme, dict[str, Any]]:
        mme = SimMme([TAI_1, TAI_2], kw.pop("cells", CELLS), **kw)
        port = free_port()
        self.listeners.append(await listen(mme, "tcp", "127.0.0.1", port))
        return mme, {"address": "127.0.0.1", "port": port}

    def close(self) -> None:
        for listener in self.listeners:
            listener.close()


@pytest.fixture
async def fleet() -> Any:
    f = Fleet()
    yield f
    f.close()


def _spec(cfg: CbcConfig, **kw: Any) -> AlertSpec:
    return AlertSpec(
        target=kw.pop("target", Areas(cfg).plmn()),
        texts=kw.pop("texts", (Text("en", "Flood warning: move to high ground"),)),
        alert_class=kw.pop("alert_class", AlertClass.PRESIDENTIAL), **kw,
    )  # fmt: skip


async def _peer(service: CbcService, alert_id: str, name: str) -> dict[str, Any]:
    view = alert_view(await service.get(alert_id))
    peers = {p["peer"]: p for p in view["messages"][0]["peers"]}
    peer: dict[str, Any] = peers[name]
    return peer


async def _state(service: CbcService, alert_id: str, name: str, state: str) -> bool:
    return (await _peer(service, alert_id, name))["state"] == state


async def _cells(service: CbcService, alert_id: str, name: str) -> dict[str, str]:
    return {c["cell"]: c["state"] for c in (await _peer(service, alert_id, name))["cells"]}


def _writes(mme: SimMme) -> list[WriteReplaceWarningRequest]:
    return [p for p in mme.received if isinstance(p, WriteReplaceWarningRequest)]


async def _up(
    service_factory: Any, fleet: Fleet, **kw: Any
) -> tuple[CbcConfig, CbcService, SimMme]:
    mme, where = await fleet.mme(**kw)
    cfg = _config([{"name": "mme1", **where}])
    service = await service_factory(cfg)
    await until(lambda: service.peer_status()["mme1"])
    return cfg, service, mme


async def test_create_and_delete_with_indications(service_factory: Any, fleet: Fleet) -> None:
    cfg, service, mme = await _up(service_factory, fleet)
    alert_id = await service.submit(_spec(cfg), "authority@x")
    await until(lambda: _state(service, alert_id, "mme1", "active"))
    [write] = _writes(mme)
    assert write.tais == (TAI_1, TAI_2) and write.warning_area is None
    assert write.repetition_period == 60 and write.broadcasts == 0
    assert write.concurrent and write.send_indication and write.warning_type is None
    assert write.content is not None and write.content[0] == 1  # one page, then the page
    await until(lambda: len(mme.active) == 1)
    await until(lambda: _cells(service, alert_id, "mme1"))
    peer = await _peer(service, alert_id, "mme1")
    assert peer["interface"] == "sbcap"
    assert peer["answer"]["result"] == "accepted" and peer["answer"]["unknown_tais"] == []
    assert await _cells(service, alert_id, "mme1") == {
        f"{PLMN}-{c.eci}": "scheduled" for c in CELLS
    }

    await service.cancel(alert_id, "authority@x")
    await until(lambda: _state(service, alert_id, "mme1", "killed"))
    [stop] = [p for p in mme.received if isinstance(p, StopWarningRequest)]
    assert (stop.message_id, stop.serial) == (write.message_id, write.serial)
    await until(lambda: _stopped(service, alert_id))


async def _stopped(service: CbcService, alert_id: str) -> bool:
    return set((await _cells(service, alert_id, "mme1")).values()) == {"stopped"}


async def test_cells_and_tracking_areas_go_to_the_mme_that_serves_them(
    service_factory: Any, fleet: Fleet
) -> None:
    near, where_near = await fleet.mme(cells=CELLS[:2])
    far, where_far = await fleet.mme(cells=CELLS[2:])
    cfg = _config([
        {"name": "near", **where_near, "cells": [f"{PLMN}-{c.eci}" for c in CELLS[:2]]},
        {"name": "far", **where_far, "cells": [f"{PLMN}-{c.eci}" for c in CELLS[2:]]},
    ])  # fmt: skip
    service = await service_factory(cfg)
    await until(lambda: all(service.peer_status().values()))
    target = Areas(cfg).ecgis([f"{PLMN}-{CELLS[0].eci}"])
    alert_id = await service.submit(_spec(cfg, target=target), "a@x")
    await until(lambda: _state(service, alert_id, "near", "active"))
    assert (await _peer(service, alert_id, "far"))["state"] == "killed"  # not its cells
    [write] = _writes(near)
    assert write.warning_area is not None and write.warning_area.ecgis == (CELLS[0],)
    assert _writes(far) == []
    assert await _cells(service, alert_id, "near") == {f"{PLMN}-{CELLS[0].eci}": "scheduled"}


async def test_unknown_tracking_areas_are_named_in_the_status(
    service_factory: Any, fleet: Fleet
) -> None:
    _, where = await fleet.mme()
    cfg = _config([{"name": "mme1", **where, "tais": ["901-70-1", "901-70-99"]}])
    service = await service_factory(cfg)
    await until(lambda: service.peer_status()["mme1"])
    some = await service.submit(
        _spec(cfg, target=Areas(cfg).tais(["901-70-1", "901-70-99"])), "a@x"
    )
    await until(lambda: _state(service, some, "mme1", "active"))
    answer = (await _peer(service, some, "mme1"))["answer"]
    assert answer["result"] == "accepted" and answer["unknown_tais"] == ["901-70-99"]
    none = await service.submit(_spec(cfg, target=Areas(cfg).tais(["901-70-99"]),
                                      alert_class=AlertClass.EXTREME), "a@x")  # fmt: skip
    await until(lambda: _state(service, none, "mme1", "failed"))
    answer = (await _peer(service, none, "mme1"))["answer"]
    assert answer["result"] == "rejected" and answer["cause"] == "tracking-area-not-valid"


async def test_a_refusal_is_shown_with_its_cause_and_meaning(
    service_factory: Any, fleet: Fleet
) -> None:
    cfg, service, _ = await _up(service_factory, fleet, reject=Cause.MME_CAPACITY_EXCEEDED)
    alert_id = await service.submit(_spec(cfg), "a@x")
    await until(lambda: _state(service, alert_id, "mme1", "failed"))
    peer = await _peer(service, alert_id, "mme1")
    assert peer["answer"] == {"result": "rejected", "cause": "mme-capacity-exceeded",
                              "meaning": "the MME is at capacity", "unknown_tais": []}  # fmt: skip
    assert peer["cells"] == []


async def test_an_mme_that_reports_nothing_leaves_its_cells_accepted_not_pending(
    service_factory: Any, fleet: Fleet
) -> None:
    cfg, service, _ = await _up(service_factory, fleet, indications=False)
    alert_id = await service.submit(_spec(cfg), "a@x")
    await until(lambda: _state(service, alert_id, "mme1", "active"))
    peer = await _peer(service, alert_id, "mme1")
    assert [(c["cell"], c["state"], c["cause"]) for c in peer["cells"]] == [
        ("all", "accepted", "no per-cell report")
    ]
    view = alert_view(await service.get(alert_id))
    assert view["delivered_at"] is not None


async def test_a_bsc_and_an_mme_side_by_side(service_factory: Any, fleet: Fleet) -> None:
    _, where = await fleet.mme()
    cfg = _config([{"name": "mme1", **where}],
                  [{"name": "bsc1", "address": "127.0.0.1"}])  # fmt: skip
    service = await service_factory(cfg)
    from omnigw.cbc.cells import CellId

    await bsc_connect("127.0.0.1", service.bound_port() or 0, [CellId("901", "70", 23, 1)])
    await until(lambda: all(service.peer_status().values()))
    alert_id = await service.submit(_spec(cfg), "a@x")
    await until(lambda: _state(service, alert_id, "mme1", "active"))
    await until(lambda: _state(service, alert_id, "bsc1", "active"))
    view = alert_view(await service.get(alert_id))
    interfaces = {p["peer"]: p["interface"] for p in view["messages"][0]["peers"]}
    assert interfaces == {"bsc1": "cbsp", "mme1": "sbcap"}
    await until(lambda: _cells(service, alert_id, "mme1"))
    view = alert_view(await service.get(alert_id))
    assert view["cells"]["installed"] == 1 and view["cells"]["scheduled"] == len(CELLS)


async def test_the_mme_as_client_connecting_to_us(service_factory: Any) -> None:
    sbcap_port = free_port()
    cfg = _config([{"name": "mme1", "mode": "server", "address": "127.0.0.7"}], port=sbcap_port)
    service = await service_factory(cfg)
    stranger = SimMme([TAI_1], CELLS)
    await dial(stranger, "tcp", "127.0.0.1", sbcap_port, local="127.0.0.8")
    await until(lambda: stranger.closed.is_set())  # not a configured MME: refused
    mme = SimMme([TAI_1, TAI_2], CELLS)
    await dial(mme, "tcp", "127.0.0.1", sbcap_port, local="127.0.0.7")
    await until(lambda: service.peer_status()["mme1"])
    alert_id = await service.submit(_spec(cfg), "a@x")
    await until(lambda: _state(service, alert_id, "mme1", "active"))
    assert len(_writes(mme)) == 1


async def test_concurrent_messages_are_each_accepted(service_factory: Any, fleet: Fleet) -> None:
    cfg, service, mme = await _up(service_factory, fleet)
    first = await service.submit(_spec(cfg), "a@x")
    second = await service.submit(_spec(cfg, alert_class=AlertClass.EXTREME), "a@x")
    await until(lambda: _state(service, first, "mme1", "active"))
    await until(lambda: _state(service, second, "mme1", "active"))
    writes = _writes(mme)
    assert len({w.message_id for w in writes}) == 2 and all(w.concurrent for w in writes)


async def test_etws_goes_with_its_warning_type_and_without_the_concurrency_flag(
    service_factory: Any, fleet: Fleet
) -> None:
    cfg, service, mme = await _up(service_factory, fleet)
    alert_id = await service.submit(
        _spec(cfg, alert_class=AlertClass.ETWS_EARTHQUAKE, texts=()), "a@x"
    )
    await until(lambda: _state(service, alert_id, "mme1", "active"))
    [write] = _writes(mme)
    assert write.message_id == 4352 and not write.concurrent
    assert write.warning_type is not None and write.warning_type[0] >> 1 == 0  # earthquake
    assert write.warning_security == bytes(50)


async def test_a_long_repetition_period_goes_in_the_extended_ie(
    service_factory: Any, fleet: Fleet
) -> None:
    cfg, service, mme = await _up(service_factory, fleet)
    alert_id = await service.submit(_spec(cfg, repetition_seconds=7200), "a@x")
    await until(lambda: _state(service, alert_id, "mme1", "active"))
    [write] = _writes(mme)
    assert (write.repetition_period, write.extended_repetition_period) == (4095, 7200)


async def test_cell_failure_marks_the_cells_and_a_restart_resends_what_is_in_force(
    service_factory: Any, fleet: Fleet
) -> None:
    cfg, service, mme = await _up(service_factory, fleet)
    mme.restart(CELLS[:1])  # idle: nothing in force, nothing to re-send
    mme.fail(CELLS[:1])
    await asyncio.sleep(0.2)
    assert _writes(mme) == []
    alert_id = await service.submit(_spec(cfg), "a@x")
    await until(lambda: _state(service, alert_id, "mme1", "active"))
    await until(lambda: len(mme.active) == 1)
    mme.fail(CELLS[:1])
    await until(lambda: _cells_are(service, alert_id, CELLS[0], "failed"))
    mme.restart(CELLS[:1])  # active: the warning is written again, and scheduled again
    await until(lambda: len(_writes(mme)) == 2)
    first, again = _writes(mme)
    assert (again.message_id, again.serial) == (first.message_id, first.serial)
    await until(lambda: _cells_are(service, alert_id, CELLS[0], "scheduled"))


async def _cells_are(service: CbcService, alert_id: str, cell: Ecgi, state: str) -> bool:
    return (await _cells(service, alert_id, "mme1")).get(f"{cell.plmn}-{cell.eci}") == state


async def test_an_mme_down_gets_the_alert_when_its_association_comes(
    service_factory: Any,
) -> None:
    port = free_port()
    cfg = _config([{"name": "mme1", "address": "127.0.0.1", "port": port}])
    service = await service_factory(cfg)
    alert_id = await service.submit(_spec(cfg), "a@x")
    assert (await _peer(service, alert_id, "mme1"))["state"] == "pending"
    mme = SimMme([TAI_1, TAI_2], CELLS)
    listener = await listen(mme, "tcp", "127.0.0.1", port)
    try:
        await until(lambda: _state(service, alert_id, "mme1", "active"))
        assert len(_writes(mme)) == 1
    finally:
        listener.close()


async def test_a_silent_mme_is_retried_a_bounded_number_of_times(
    service_factory: Any, fleet: Fleet
) -> None:
    cfg, service, mme = await _up(service_factory, fleet, silent=True)
    alert_id = await service.submit(_spec(cfg), "a@x")
    await until(lambda: _state(service, alert_id, "mme1", "failed"), within=10)
    assert len(_writes(mme)) == cfg.sbcap.max_attempts
    assert (await _peer(service, alert_id, "mme1"))["error"] == "no answer after 3 attempts"


async def test_error_indications_both_ways(service_factory: Any, fleet: Fleet) -> None:
    from omnigw.cbc.sbcap import aper
    from omnigw.cbc.sbcap.codec import WriteReplaceWarningResponse, encode

    _, service, mme = await _up(service_factory, fleet)
    kind, code, ies = aper.read_pdu(encode(WriteReplaceWarningResponse(4370, 1, 0)))
    mme.send_raw(aper.pdu(kind, code, "reject", [(i, "reject", v) for i, v in ies if i != 1]))
    await until(lambda: mme.errors)
    assert mme.errors == [ErrorIndication(cause=Cause.MISSING_MANDATORY_ELEMENT)]
    mme.send(ErrorIndication(cause=Cause.UNSPECIFIED_ERROR))
    from prometheus_client import REGISTRY

    def counted() -> bool:
        value = REGISTRY.get_sample_value(
            "omnigw_cbc_protocol_errors_total",
            {"peer": "mme1", "interface": "sbcap", "cause": "peer_unspecified-error"},
        )
        return bool(value)

    await until(counted)
    assert service.peer_status()["mme1"]  # the association stays


async def test_without_kernel_sctp_each_mme_is_named_at_start_and_the_rest_runs(
    service_factory: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from omnigw.transport import sctp

    monkeypatch.setattr(sctp, "unavailable", lambda: "no kernel SCTP: Protocol not supported")
    mmes = [{"name": "mme1", "address": "127.0.0.1"}, {"name": "mme2", "address": "127.0.0.2"}]
    cfg = _config(mmes, transport="sctp")
    with caplog.at_level("ERROR", logger="omnigw.cbc"):
        service = await service_factory(cfg)
    named = [r.peer for r in caplog.records if "no SCTP" in r.getMessage()]  # type: ignore[attr-defined]
    assert named == ["mme1", "mme2"]
    alert_id = await service.submit(_spec(cfg), "a@x")  # accepted, kept for when it can go
    assert (await _peer(service, alert_id, "mme1"))["state"] == "pending"


async def test_an_area_over_both_networks_reaches_the_bsc_and_the_mme_each_with_its_cells(
    service_factory: Any, fleet: Fleet
) -> None:
    from omnigw.cbc.cbsp.codec import MsgType
    from omnigw.cbc.cells import CellId

    mme, where = await fleet.mme()
    lte = f"{PLMN}-{CELLS[0].eci}"
    cfg = CbcConfig.model_validate({
        **_config([{"name": "mme1", **where}], [{"name": "bsc1", "address": "127.0.0.1"}])
        .model_dump(mode="json"),
        "cells": [{"cgi": "901-70-23-1", "lat": 41.39, "lon": 2.17},
                  {"ecgi": lte, "lat": 41.40, "lon": 2.18}],
        "areas": {"coast": ["901-70-23-1", lte]},
    })  # fmt: skip
    service = await service_factory(cfg)
    bsc = await bsc_connect("127.0.0.1", service.bound_port() or 0, [CellId("901", "70", 23, 1)])
    await until(lambda: all(service.peer_status().values()))
    circle = await Areas(cfg).circle(41.395, 2.175, 5)
    for target in (Areas(cfg).named(["coast"]), circle):
        a = await service.submit(_spec(cfg, target=target), "a@x")
        await until(lambda a=a: _state(service, a, "mme1", "active"))  # type: ignore[misc]
        await until(lambda a=a: _state(service, a, "bsc1", "active"))  # type: ignore[misc]
        await service.cancel(a, "a@x")
        await until(lambda a=a: _state(service, a, "mme1", "killed"))  # type: ignore[misc]
    writes = _writes(mme)
    assert [w.warning_area for w in writes] == [WarningArea(ecgis=(CELLS[0],))] * 2
    gsm = [p.cell_list.cells for p in bsc.received if p.type is MsgType.WRITE_REPLACE]  # type: ignore[union-attr]
    assert gsm == [(CellId("901", "70", 23, 1),)] * 2
