"""A CAP Update supersedes (PROTOCOLS.md): by language, class changes, areas, the chain."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from omnigw.cbc.areas import Areas
from omnigw.cbc.cbsp.codec import Discriminator, MsgType
from omnigw.cbc.messages import AlertClass, Certainty, Urgency
from omnigw.cbc.service import AlertSpec, CbcService, Text
from omnigw.config import CbcConfig
from tests.cbc.test_service import CELL_A, CELL_B, _linked
from tests.support.waiting import until

EN = Text("en", "Flash flood: move to higher ground")
ES = Text("es", "Inundación repentina: suba a zonas altas")


def _cap_spec(cfg: CbcConfig, texts: tuple[Text, ...], **kw: Any) -> AlertSpec:
    return AlertSpec(
        target=kw.pop("target", Areas(cfg).cells(["901-70-23-1", "901-70-23-2"])),
        texts=texts,
        alert_class=kw.pop("alert_class", AlertClass.EXTREME),
        source="cap",
        external_ref=kw.pop("external_ref", "AUTH-1"),
        **kw,
    )


def _messages(service: CbcService, alert_id: str) -> list[tuple[str | None, int, int, int]]:
    return [(m["language"], m["message_id"], m["message_code"], m["update_number"])
            for m in service.summary(alert_id)["messages"] if not m["stopped"]]  # fmt: skip


async def _settled(service: CbcService, alert_id: str) -> bool:
    return bool(service.summary(alert_id)["delivered"])


async def test_an_update_with_fewer_languages_stops_the_dropped_one(
    service_factory: Any,
) -> None:
    cfg, service, bsc = await _linked(service_factory, [CELL_A, CELL_B])
    alert_id = await service.submit(_cap_spec(cfg, (EN, ES)), "authority")
    await until(lambda: _settled(service, alert_id))
    [(_, en_id, en_code, _), (_, es_id, _, _)] = _messages(service, alert_id)
    await service.supersede(alert_id, _cap_spec(cfg, (Text("en", "Now go uphill"),)), "a", "U1")
    assert _messages(service, alert_id) == [("en", en_id, en_code, 1)]
    await until(lambda: any(p.type is MsgType.KILL and p.message_id == es_id
                            for p in bsc.received))  # fmt: skip
    rewrite = bsc.writes()[-1]
    assert (rewrite.message_id, rewrite.old_serial is not None) == (en_id, True)
    view = (await service.get(alert_id)).messages
    assert [(m.language, m.stopped_at is not None) for m in view] == [("en", False), ("es", True)]
    assert [d.state for d in view[1].deliveries] == ["killed"]


async def test_texts_are_matched_by_language_not_by_position(
    service_factory: Any,
) -> None:
    cfg, service, bsc = await _linked(service_factory, [CELL_A, CELL_B])
    alert_id = await service.submit(_cap_spec(cfg, (EN, ES)), "authority")
    await until(lambda: _settled(service, alert_id))
    before = _messages(service, alert_id)
    es2, en2 = Text("es", "Evacúe ahora"), Text("en", "Evacuate now")
    await service.supersede(alert_id, _cap_spec(cfg, (es2, en2)), "a", "U1")
    after = _messages(service, alert_id)
    assert [(lang, ident, code) for lang, ident, code, _ in after] == [
        (lang, ident, code) for lang, ident, code, _ in before
    ]  # the same two messages, each with its own language's new text
    stored = {m.language: m for m in (await service.get(alert_id)).messages}
    assert (stored["en"].text, stored["es"].text) == (en2.text, es2.text)
    assert stored["en"].dcs != stored["es"].dcs  # each kept its own language's coding
    await until(lambda: _settled(service, alert_id))
    assert {p.message_id for p in bsc.writes()[-2:]} == {before[0][1], before[1][1]}


async def test_a_changed_class_is_a_new_message_and_the_old_one_is_stopped(
    service_factory: Any,
) -> None:
    cfg, service, bsc = await _linked(service_factory, [CELL_A, CELL_B])
    alert_id = await service.submit(_cap_spec(cfg, (EN,)), "authority")
    await until(lambda: _settled(service, alert_id))
    [(_, old_id, _, _)] = _messages(service, alert_id)
    severe = _cap_spec(cfg, (EN,), alert_class=AlertClass.SEVERE, severity="Severe",
                       urgency=Urgency.IMMEDIATE, certainty=Certainty.LIKELY)  # fmt: skip
    await service.supersede(alert_id, severe, "a", "U1")
    [(_, new_id, _, update)] = _messages(service, alert_id)
    assert new_id != old_id and update == 0
    assert service.summary(alert_id)["class"] == "severe"
    await until(lambda: any(p.type is MsgType.KILL and p.message_id == old_id
                            for p in bsc.received))  # fmt: skip
    await until(lambda: any(p.message_id == new_id and p.old_serial is None
                            for p in bsc.writes()))  # fmt: skip


async def test_a_smaller_area_kills_the_message_where_it_no_longer_applies(
    service_factory: Any,
) -> None:
    cfg, service, bsc = await _linked(service_factory, [CELL_A, CELL_B])
    alert_id = await service.submit(_cap_spec(cfg, (EN,)), "authority")
    await until(lambda: _settled(service, alert_id))
    later = datetime(2031, 1, 1, tzinfo=UTC)
    smaller = _cap_spec(cfg, (EN,), target=Areas(cfg).cells(["901-70-23-1"]), expires_at=later)
    await service.supersede(alert_id, smaller, "a", "U1")
    await until(lambda: _settled(service, alert_id))
    kill = next(p for p in bsc.received if p.type is MsgType.KILL)
    assert kill.cell_list is not None and kill.cell_list.discriminator is Discriminator.CGI
    assert kill.cell_list.cells == (CELL_B,)  # only where the area left
    rewrite = bsc.writes()[-1]
    assert rewrite.cell_list is not None and rewrite.cell_list.cells == (CELL_A,)
    assert service.summary(alert_id)["expires_at"] == later


async def test_the_chain_and_stopped_messages_survive_a_restart(
    service_factory: Any,
) -> None:
    cfg, service, bsc = await _linked(service_factory, [CELL_A, CELL_B])
    alert_id = await service.submit(_cap_spec(cfg, (EN, ES)), "authority")
    await service.supersede(alert_id, _cap_spec(cfg, (EN,)), "a", "AUTH-2")
    await until(lambda: _settled(service, alert_id))
    await service.stop()
    bsc.close()
    again = await service_factory(cfg)
    assert await again.find_active("cap", "AUTH-2") == alert_id
    assert await again.find_active("cap", "AUTH-1") == alert_id
    assert [lang for lang, *_ in _messages(again, alert_id)] == ["en"]
