"""The CBC service against simulated BSCs: fan-out, per-cell results, cancel, restart, errors."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from omnigw.cbc.api import alert_view
from omnigw.cbc.areas import Areas
from omnigw.cbc.cbsp.codec import Cause, MsgType
from omnigw.cbc.cells import CellId
from omnigw.cbc.messages import AlertClass
from omnigw.cbc.service import AlertSpec, CbcService, Text
from omnigw.config import CbcConfig
from omnigw.errors import Unavailable
from omnigw.sim.bsc import SimBsc, connect, listen
from tests.support.ports import free_port
from tests.support.waiting import until

CELL_A = CellId("901", "70", 23, 1)
CELL_B = CellId("901", "70", 23, 2)


def _config(port: int, mode: str = "server", peer_port: int = 48049, **cbsp: Any) -> CbcConfig:
    return CbcConfig.model_validate(
        {
            "cbsp": {"port": port, "keepalive_seconds": 30, "answer_timeout_seconds": 1,
                     **cbsp},
            "peers": [{"name": "bsc1", "mode": mode, "address": "127.0.0.1", "port": peer_port}],
            "cells": [{"cgi": "901-70-23-1", "lat": 41.39, "lon": 2.17},
                      {"cgi": "901-70-23-2", "lat": 41.50, "lon": 2.30}],
            "areas": {"coast": ["901-70-23-1"]},
        }
    )  # fmt: skip


def _spec(cfg: CbcConfig, **kw: Any) -> AlertSpec:
    areas = Areas(cfg)
    return AlertSpec(
        target=kw.pop("target", areas.plmn()),
        texts=kw.pop("texts", (Text("en", "Tsunami warning: move to high ground"),)),
        alert_class=kw.pop("alert_class", AlertClass.PRESIDENTIAL),
        **kw,
    )


async def _delivery_state(service: CbcService, alert_id: str) -> str:
    alert = await service.get(alert_id)
    return alert.messages[0].deliveries[0].state


async def _linked(
    service_factory: Any, cells: list[CellId] | None = None, **cbsp: Any
) -> tuple[CbcConfig, CbcService, SimBsc]:
    """A service with one simulated BSC connected to it and its link up."""
    port = free_port()
    cfg = _config(port, **cbsp)
    service = await service_factory(cfg)
    bsc = await connect("127.0.0.1", port, cells or [CELL_A])
    await until(lambda: service.peer_status()["bsc1"])
    return cfg, service, bsc


async def _cells(service: CbcService, alert_id: str) -> list[dict[str, Any]]:
    view = alert_view(await service.get(alert_id))
    peer = view["messages"][0]["peers"][0]
    assert peer["interface"] == "cbsp"  # its answers are read as CBSP's
    cells: list[dict[str, Any]] = peer["cells"]
    return cells


async def _state_is(service: CbcService, alert_id: str, state: str) -> bool:
    return await _delivery_state(service, alert_id) == state


async def test_bsc_connecting_to_us_gets_reset_then_the_alert(service_factory: Any) -> None:
    port = free_port()
    cfg = _config(port)
    service = await service_factory(cfg)
    bsc = await connect("127.0.0.1", port, [CELL_A, CELL_B])
    await until(lambda: service.peer_status()["bsc1"])
    assert bsc.received[0].type is MsgType.RESET
    alert_id = await service.submit(_spec(cfg), "authority@x")
    await until(lambda: _state_is(service, alert_id, "active"))
    [write] = bsc.writes()
    assert write.message_id == 4370 and write.old_serial is None
    cells = {c["cell"]: c["state"] for c in await _cells(service, alert_id)}
    assert cells == {"901-70-23-1": "installed", "901-70-23-2": "installed"}
    assert (await service.get(alert_id)).completed_at is not None

    await service.cancel(alert_id, "authority@x")
    await until(lambda: _state_is(service, alert_id, "killed"))
    cells = await _cells(service, alert_id)
    assert {c["state"] for c in cells} == {"killed"}
    assert [c["broadcasts_completed"] for c in cells] == [3, 3]


async def test_we_connect_to_a_bsc_in_client_mode(service_factory: Any) -> None:
    bsc_port = free_port()
    server, bsc = await listen("127.0.0.1", bsc_port, [CELL_A])
    try:
        cfg = _config(free_port(), mode="client", peer_port=bsc_port)
        service = await service_factory(cfg)
        await until(lambda: service.peer_status()["bsc1"])
        alert_id = await service.submit(_spec(cfg, target=Areas(cfg).named(["coast"])), "a@x")
        await until(lambda: _state_is(service, alert_id, "active"))
        assert bsc.writes()[0].cell_list.cells == (CELL_A,)  # type: ignore[union-attr]
    finally:
        server.close()


async def test_failed_cells_are_reported_with_their_cause(service_factory: Any) -> None:
    port = free_port()
    cfg = _config(port)
    service = await service_factory(cfg)
    await connect("127.0.0.1", port, [CELL_A])
    await until(lambda: service.peer_status()["bsc1"])
    alert_id = await service.submit(
        _spec(cfg, target=Areas(cfg).cells(["901-70-23-1", "901-70-23-2"])), "a@x"
    )
    await until(lambda: _state_is(service, alert_id, "active"))
    cells = {c["cell"]: (c["state"], c["cause"]) for c in await _cells(service, alert_id)}
    assert cells == {
        "901-70-23-1": ("installed", None),
        "901-70-23-2": ("failed", "cell_id_not_valid"),
    }


async def test_peer_that_was_down_gets_the_alert_when_it_comes(service_factory: Any) -> None:
    port = free_port()
    cfg = _config(port)
    service = await service_factory(cfg)
    alert_id = await service.submit(_spec(cfg), "a@x")
    assert await _delivery_state(service, alert_id) == "pending"
    bsc = await connect("127.0.0.1", port, [CELL_A])
    await until(lambda: _state_is(service, alert_id, "active"))
    assert len(bsc.writes()) == 1


async def test_restart_with_data_lost_resends_active_messages(service_factory: Any) -> None:
    cfg, service, bsc = await _linked(service_factory)
    alert_id = await service.submit(_spec(cfg), "a@x")
    await until(lambda: _state_is(service, alert_id, "active"))
    bsc.restart(data_lost=False)
    await asyncio.sleep(0.2)
    assert len(bsc.writes()) == 1  # the BSC kept its messages: nothing to re-send
    bsc.restart(data_lost=True)
    await until(lambda: len(bsc.writes()) == 2)
    first, again = bsc.writes()
    assert again.new_serial == first.new_serial and again.old_serial is None


async def test_an_alert_is_accepted_only_if_its_commit_is_known(
    service_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store helper ending mid-commit: the store decides whether the alert exists."""
    cfg, service, bsc = await _linked(service_factory)
    real = service._store.run

    async def lost_before(ops: Any) -> None:
        raise Unavailable("the store helper process ended")

    monkeypatch.setattr(service._store, "run", lost_before)
    with pytest.raises(Unavailable):
        await service.submit(_spec(cfg), "authority@x")
    assert (await service.list(None, None, 10, 0))[0] == 0

    async def lost_after(ops: Any) -> None:
        await real(ops)
        raise Unavailable("the store helper process ended")

    monkeypatch.setattr(service._store, "run", lost_after)
    alert_id = await service.submit(_spec(cfg), "authority@x")
    monkeypatch.setattr(service._store, "run", real)
    await until(lambda: _state_is(service, alert_id, "active"))
    assert len(bsc.writes()) == 1


async def test_update_keeps_the_code_and_bumps_the_update_number(service_factory: Any) -> None:
    cfg, service, bsc = await _linked(service_factory)
    alert_id = await service.submit(_spec(cfg), "a@x")
    await until(lambda: _state_is(service, alert_id, "active"))
    await service.revise_texts(alert_id, [Text("en", "Update: tsunami expected at 14:05")], "a@x")
    await until(lambda: len(bsc.writes()) == 2)
    first, second = bsc.writes()
    assert second.old_serial == first.new_serial
    assert second.new_serial == (first.new_serial or 0) + 1  # same code, update number + 1


async def test_presidential_overtakes_queued_alerts(service_factory: Any) -> None:
    port = free_port()
    cfg = _config(port)
    service = await service_factory(cfg)
    for n in range(5):
        await service.submit(_spec(cfg, alert_class=AlertClass.MONTHLY_TEST,
                                   texts=(Text("en", f"test {n}"),)), "a@x")  # fmt: skip
    await service.submit(_spec(cfg, texts=(Text("en", "PRESIDENTIAL"),)), "a@x")
    bsc = await connect("127.0.0.1", port, [CELL_A])
    await until(lambda: len(bsc.writes()) == 6)
    assert bsc.writes()[0].message_id == 4370


async def test_unanswered_writes_are_retried_then_failed(service_factory: Any) -> None:
    cfg, service, bsc = await _linked(service_factory, max_attempts=2, answer_timeout_seconds=0.2)
    bsc.silent = True
    alert_id = await service.submit(_spec(cfg), "a@x")
    await until(lambda: _state_is(service, alert_id, "failed"))
    assert len(bsc.writes()) == 2
    alert = await service.get(alert_id)
    assert "2 attempts" in (alert.messages[0].deliveries[0].error or "")


async def test_malformed_pdu_gets_error_indication_and_link_stays(service_factory: Any) -> None:
    _cfg, service, bsc = await _linked(service_factory)
    assert bsc._transport is not None
    bsc._transport.write(bytes.fromhex("10000000"))  # RESET COMPLETE? no: RESET without cells
    await until(lambda: any(p.type is MsgType.ERROR_INDICATION for p in bsc.received))
    error = next(p for p in bsc.received if p.type is MsgType.ERROR_INDICATION)
    assert error.cause is Cause.MISSING_MANDATORY_IE
    assert service.peer_status()["bsc1"]
    from prometheus_client import REGISTRY

    counted = REGISTRY.get_sample_value(
        "omnigw_cbc_protocol_errors_total",
        {"peer": "bsc1", "interface": "cbsp", "cause": "missing_mandatory_ie"},
    )
    assert counted is not None and counted >= 1


async def test_unknown_peer_is_refused(service_factory: Any) -> None:
    port = free_port()
    cfg = CbcConfig.model_validate(
        {"cbsp": {"port": port}, "peers": [{"name": "far", "address": "127.0.0.9"}]}
    )
    await service_factory(cfg)
    bsc = await connect("127.0.0.1", port, [CELL_A])
    await asyncio.wait_for(bsc.closed.wait(), 5)
    assert bsc.received == []


async def test_keepalive_timeout_closes_the_link(service_factory: Any) -> None:
    _cfg, service, bsc = await _linked(
        service_factory, keepalive_seconds=0.2, keepalive_timeout_seconds=0.2
    )
    await until(lambda: any(p.type is MsgType.KEEP_ALIVE for p in bsc.received))
    assert bsc.received[-1].keepalive_period is not None
    bsc.silent = True
    await asyncio.wait_for(bsc.closed.wait(), 5)
    assert not service.peer_status()["bsc1"]


async def test_restarted_service_does_not_rewrite_confirmed_cells(
    service_factory: Any, engine: AsyncEngine, tmp_path: Path
) -> None:
    port = free_port()
    cfg = _config(port)
    first = await service_factory(cfg)
    bsc = await connect("127.0.0.1", port, [CELL_A])
    await until(lambda: first.peer_status()["bsc1"])
    done = await first.submit(_spec(cfg), "a@x")
    await until(lambda: _state_is(first, done, "active"))
    bsc.silent = True  # the next one is never confirmed
    open_id = await first.submit(_spec(cfg, alert_class=AlertClass.AMBER), "a@x")
    await until(lambda: len(bsc.writes()) == 2)
    await first.stop()
    await asyncio.wait_for(bsc.closed.wait(), 5)

    second = await service_factory(cfg)
    bsc2 = await connect("127.0.0.1", port, [CELL_A])
    await until(lambda: _state_is(second, open_id, "active"))
    assert [p.type for p in bsc2.received].count(MsgType.RESET) == 0  # it holds our message
    assert [w.message_id for w in bsc2.writes()] == [4379]  # only the unconfirmed one
    assert await _delivery_state(second, done) == "active"


async def test_status_query_brings_broadcast_counts(service_factory: Any) -> None:
    cfg, service, bsc = await _linked(service_factory)
    alert_id = await service.submit(_spec(cfg), "a@x")
    await until(lambda: _state_is(service, alert_id, "active"))
    assert await service.query_status(alert_id) == 1
    await until(lambda: any(p.type is MsgType.MSG_STATUS_QUERY for p in bsc.received))

    async def counted() -> bool:
        return [c["broadcasts_completed"] for c in await _cells(service, alert_id)] == [7]

    await until(counted)


async def test_expired_alert_is_killed(service_factory: Any) -> None:
    from datetime import timedelta

    from omnigw.store.base import utcnow

    cfg, service, bsc = await _linked(service_factory)
    alert_id = await service.submit(_spec(cfg, expires_at=utcnow() + timedelta(seconds=0.5)), "a@x")
    await until(lambda: _state_is(service, alert_id, "killed"), within=5)
    assert [p.type for p in bsc.received].count(MsgType.KILL) == 1
    assert (await service.get(alert_id)).state == "expired"


async def test_etws_goes_out_as_an_emergency_write(service_factory: Any) -> None:
    cfg, service, bsc = await _linked(service_factory)
    alert_id = await service.submit(
        _spec(cfg, alert_class=AlertClass.ETWS_TSUNAMI, texts=()), "a@x"
    )
    await until(lambda: _state_is(service, alert_id, "active"))
    [write] = bsc.writes()
    assert write.message_id == 4353 and write.warning_type == (1 << 9) | (1 << 8) | (1 << 7)
    assert write.emergency == 1 and write.warning_security == bytes(50)
    assert write.content == ()


async def test_metrics_follow_the_alerts(service_factory: Any) -> None:
    from prometheus_client import REGISTRY

    def value(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    port = free_port()
    cfg = _config(port)
    service = await service_factory(cfg)
    sent = value("omnigw_cbc_messages_total", peer="bsc1", interface="cbsp", result="sent")
    delivered = value("omnigw_cbc_delivery_seconds_count")
    await connect("127.0.0.1", port, [CELL_A])
    await until(lambda: service.peer_status()["bsc1"])
    assert value("omnigw_cbc_peer_up", peer="bsc1", interface="cbsp") == 1
    alert_id = await service.submit(_spec(cfg), "a@x")
    await until(lambda: _state_is(service, alert_id, "active"))
    assert value("omnigw_cbc_alerts", state="active") >= 1
    # RESET, then the WRITE-REPLACE
    assert (
        value("omnigw_cbc_messages_total", peer="bsc1", interface="cbsp", result="sent") >= sent + 2
    )
    assert (
        value("omnigw_cbc_messages_total", peer="bsc1", interface="cbsp", result="confirmed") >= 1
    )
    assert value("omnigw_cbc_delivery_seconds_count") == delivered + 1


async def test_peer_added_after_an_alert_owes_it_from_restart(service_factory: Any) -> None:
    """A BSC configured after an alert was accepted shows as pending and gets it on link up."""
    port = free_port()
    cfg = _config(port)
    first = await service_factory(cfg)
    alert_id = await first.submit(_spec(cfg), "a@x")
    await first.stop()

    grown = CbcConfig.model_validate(
        cfg.model_dump(mode="json")
        | {"peers": [*cfg.model_dump(mode="json")["peers"],
                     {"name": "bsc2", "address": "127.0.0.2"}]}
    )  # fmt: skip
    second = await service_factory(grown)
    alert = await second.get(alert_id)
    assert sorted((d.peer, d.state) for d in alert.messages[0].deliveries) == [
        ("bsc1", "pending"),
        ("bsc2", "pending"),
    ]
    bsc2 = await connect("127.0.0.1", port, [CELL_B], local_address="127.0.0.2")
    await until(lambda: len(bsc2.writes()) == 1)
    await until(lambda: _state_is_for(second, alert_id, "bsc2", "active"))


async def _state_is_for(service: CbcService, alert_id: str, peer: str, state: str) -> bool:
    alert = await service.get(alert_id)
    return any(d.peer == peer and d.state == state for d in alert.messages[0].deliveries)


async def test_a_second_connection_from_a_linked_bsc_is_refused_and_the_link_probed(
    service_factory: Any,
) -> None:
    """No silent takeover: the established link is asked for a KEEP-ALIVE; it answers,
    so the newcomer is refused and the link stays."""
    cfg, service, bsc = await _linked(service_factory)
    pings = sum(p.type is MsgType.KEEP_ALIVE for p in bsc.received)
    intruder = await connect("127.0.0.1", cfg.cbsp.port, [CELL_A])
    await asyncio.wait_for(intruder.closed.wait(), 5)
    await until(lambda: sum(p.type is MsgType.KEEP_ALIVE for p in bsc.received) == pings + 1)
    await asyncio.sleep(0.1)
    assert service.peer_status()["bsc1"] and not bsc.closed.is_set()
    alert_id = await service.submit(_spec(cfg), "a@x")  # the first link still carries alerts
    await until(lambda: _state_is(service, alert_id, "active"))
