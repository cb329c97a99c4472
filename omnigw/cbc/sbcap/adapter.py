"""SBc-AP as the delivery engine's southbound: Write-Replace-Warning and Stop-Warning of a
message on an MME, and the MME's responses and indications as engine events and reports.

What goes in a request (TS 29.168 4.3.4, TS 23.041 9.3): List-of-TAIs is the MME's
tracking areas, or the target's on it; a cell or emergency-area target also goes as the
Warning-Area-List (only its part on this MME). Repetition-Period is in seconds (not CBSP's
1.883 s units); above 4095 s the Extended-Repetition-Period carries it, and the
Repetition-Period says 4095, which a receiver ignores then (TS 36.413 9.1.8.1).
Number-of-Broadcasts 0 repeats until stopped. Concurrent-Warning-Message-Indicator is set
for every CMAS / EU-Alert message and never for ETWS, which has a Warning-Type and the
(all zero) Warning-Security-Information instead. SBc-AP has no old serial and no status
query: a replace is a request with the new serial, and broadcast counts come only with a
Stop-Warning-Indication.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache

from omnigw.cbc.areas import Target, parse_tai
from omnigw.cbc.cells import AreaKind, CellId
from omnigw.cbc.delivery import DeliveryState, Event
from omnigw.cbc.engine import DeliveryEngine, Request
from omnigw.cbc.messages import SerialNumber
from omnigw.cbc.metrics import CELLS_REPORTED, PROTOCOL_ERRORS
from omnigw.cbc.runtime import AlertRt, DeliveryRt, MessageRt, PeerRuntime, Runtime
from omnigw.cbc.sbcap.causes import Cause, cause_text
from omnigw.cbc.sbcap.codec import (
    Ecgi,
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
    encode,
)
from omnigw.cbc.writer import DeliveryRow, StoreWriter
from omnigw.config import SbcapSettings

log = logging.getLogger("omnigw.cbc")

S = DeliveryState
INTERFACE = "sbcap"
MAX_REPETITION = 4095  # seconds in Repetition-Period; beyond, the extended IE
WARNING_SECURITY = bytes(50)
STOPPED_KEPT = 10_000  # TS 23.041 9.3.25: not used, all zero


def tai_of(cell: CellId) -> Tai:
    return Tai(f"{cell.mcc}-{cell.mnc}", cell.lac or 0)


def _served_tais(peer: PeerRuntime) -> tuple[Tai, ...]:
    return _tais(tuple(peer.cfg.tais))


@lru_cache(maxsize=1024)
def _tais(texts: tuple[str, ...]) -> tuple[Tai, ...]:
    """An MME's configured TAIs as its List-of-TAIs (parsed once, not on every write)."""
    return tuple(tai_of(parse_tai(t)) for t in texts)


def _area(target: Target) -> WarningArea | None:
    cells = target.cells
    if target.kind is AreaKind.ECGI:
        return WarningArea(ecgis=tuple(Ecgi(f"{c.mcc}-{c.mnc}", c.ci or 0) for c in cells))
    if target.kind is AreaKind.EAI:
        return WarningArea(emergency_areas=tuple(c.ci or 0 for c in cells))
    return None  # all of the MME, or tracking areas: List-of-TAIs says it


class SbcapSouthbound:
    def __init__(self, cfg: SbcapSettings, runtime: Runtime, writer: StoreWriter) -> None:
        self._cfg = cfg
        self._rt = runtime
        self._writer = writer
        self._omc_id = bytes.fromhex(cfg.omc_id) if cfg.omc_id else None
        # Deliveries just stopped, whose Stop-Warning-Indications may still come: the engine
        # forgets a killed delivery at once. Bounded: the oldest go first.
        self._stopped: OrderedDict[tuple[str, int, int], DeliveryRt] = OrderedDict()

    # --- requests --------------------------------------------------------------------------

    def covers(self, peer: PeerRuntime, alert: AlertRt) -> bool:
        return alert.target.for_peer(peer.served) is not None

    def _where(self, peer: PeerRuntime, mine: Target) -> tuple[tuple[Tai, ...], WarningArea | None]:
        if mine.kind is AreaKind.TAI:
            return tuple(tai_of(c) for c in mine.cells), None
        return _served_tais(peer), _area(mine)

    def write(self, peer: PeerRuntime, message: MessageRt, row: DeliveryRow) -> Request | None:
        mine = message.alert.target.for_peer(peer.served)
        if mine is None:
            return None
        tais, area = self._where(peer, mine)
        key = ("sbcap", tais, area)
        write: Request | None = message.encodings.get(key)
        if write is None:
            pdu = self._write_pdu(message, tais, area)
            write = message.encodings[key] = (pdu, encode(pdu))
        return write

    def _write_pdu(
        self, message: MessageRt, tais: tuple[Tai, ...], area: WarningArea | None
    ) -> WriteReplaceWarningRequest:
        alert = message.alert
        period = alert.repetition_seconds
        warning_type = message.warning_type
        etws = warning_type is not None
        content = None
        if message.pages:  # TS 23.041 9.4.2.2.5: page count, then each page and its length
            content = bytes([len(message.pages)]) + b"".join(
                p.content + bytes([p.length]) for p in message.pages
            )
        return WriteReplaceWarningRequest(
            message_id=message.identifier, serial=message.serial,
            repetition_period=min(period, MAX_REPETITION), broadcasts=alert.broadcasts,
            tais=tais, warning_area=area,
            extended_repetition_period=period if period > MAX_REPETITION else None,
            warning_type=warning_type.to_bytes(2, "big") if warning_type is not None else None,
            warning_security=WARNING_SECURITY if etws else None,
            dcs=message.dcs if content else None, content=content, omc_id=self._omc_id,
            concurrent=not etws, send_indication=True,
        )  # fmt: skip

    def kill(self, peer: PeerRuntime, message: MessageRt, row: DeliveryRow) -> Request:
        mine = message.alert.target.for_peer(peer.served)
        tais, area = self._where(peer, mine) if mine else (_served_tais(peer), None)
        return self._stop(message, row, tais, area), None

    def kill_left(
        self, peer: PeerRuntime, message: MessageRt, row: DeliveryRow, old: Target
    ) -> Request | None:
        now = message.alert.target.for_peer(peer.served)
        before = old.for_peer(peer.served)
        if now is None or before is None or row.confirmed_serial is None:
            return None
        if before.kind is not now.kind or before.kind is AreaKind.ALL:
            return None
        staying = set(now.cells)
        gone = tuple(c for c in before.cells if c not in staying)
        if not gone:
            return None
        tais, area = self._where(peer, Target(before.kind, gone, before.scope))
        return self._stop(message, row, tais, area), None

    def _stop(
        self, message: MessageRt, row: DeliveryRow, tais: Sequence[Tai], area: WarningArea | None
    ) -> StopWarningRequest:
        return StopWarningRequest(
            message_id=message.identifier, serial=row.confirmed_serial or message.serial,
            tais=tuple(tais), warning_area=area, omc_id=self._omc_id, send_indication=True,
        )  # fmt: skip

    def query(self, peer: PeerRuntime, message: MessageRt, row: DeliveryRow) -> Request | None:
        return None  # SBc-AP has no status query

    # --- what the MME says -----------------------------------------------------------------

    def _delivery(self, peer: PeerRuntime, message_id: int, serial: int) -> DeliveryRt | None:
        key = (peer.cfg.name, message_id, SerialNumber.code_of(serial))
        delivery = self._rt.refs.get(key) or self._stopped.get(key)
        if delivery is None:
            log.warning(
                "SBc-AP answer or report for an unknown message",
                extra={"peer": peer.cfg.name, "message_id": message_id, "serial": serial},
            )
        return delivery

    def answer(
        self,
        engine: DeliveryEngine,
        peer: PeerRuntime,
        pdu: WriteReplaceWarningResponse | StopWarningResponse,
        frame: bytes,
    ) -> None:
        delivery = self._delivery(peer, pdu.message_id, pdu.serial)
        if delivery is None:
            return
        if pdu.unknown_tais:
            log.warning(
                "MME does not know some tracking areas",
                extra={"peer": peer.cfg.name, "message_id": pdu.message_id,
                       "tais": [f"{t.plmn}-{t.tac}" for t in pdu.unknown_tais][:20]},
            )  # fmt: skip
        if isinstance(pdu, WriteReplaceWarningResponse):
            # The MME already holding this very message is as good as accepting it.
            took = pdu.cause in (Cause.MESSAGE_ACCEPTED, Cause.MESSAGE_REFERENCE_ALREADY_USED)
            if not took:
                log.warning(
                    "MME refused a warning",
                    extra={"peer": peer.cfg.name, "message_id": pdu.message_id,
                           "cause": cause_text(pdu.cause)},
                )  # fmt: skip
            engine.step(peer, delivery, Event.COMPLETE if took else Event.FAILURE, frame)
        else:
            key = (peer.cfg.name, pdu.message_id, SerialNumber.code_of(pdu.serial))
            self._stopped[key] = delivery
            if len(self._stopped) > STOPPED_KEPT:
                self._stopped.popitem(last=False)
            # valid-message-not-identified: the MME no longer has it, which is what we asked.
            done = pdu.cause in (Cause.MESSAGE_ACCEPTED, Cause.VALID_MESSAGE_NOT_IDENTIFIED)
            engine.step(peer, delivery, Event.KILL_COMPLETE if done else Event.KILL_FAILURE, frame)

    def indication(
        self, engine: DeliveryEngine, peer: PeerRuntime, pdu: Pdu | Report, frame: bytes
    ) -> None:
        name = peer.cfg.name
        if isinstance(pdu, Report | WriteReplaceWarningIndication | StopWarningIndication):
            delivery = self._delivery(peer, pdu.message_id, pdu.serial)
            if delivery is None:
                return
            if isinstance(pdu, Report):
                kind, count = pdu.kind, pdu.cells
            elif isinstance(pdu, WriteReplaceWarningIndication):
                kind, count = "scheduled", len(pdu.scheduled)
            else:
                kind, count = "stopped", len(pdu.cancelled)
            CELLS_REPORTED.labels(name, INTERFACE, kind).inc(count)
            self._writer.report(delivery.row, kind, frame)
        elif isinstance(pdu, PwsRestartIndication):
            self._restarted(engine, peer, pdu)
        elif isinstance(pdu, PwsFailureIndication):
            CELLS_REPORTED.labels(name, INTERFACE, "failed").inc(len(pdu.failed))
            log.warning(
                "MME reports cells that cannot broadcast warnings",
                extra={"peer": name, "enb": pdu.enb.value, "cells": len(pdu.failed)},
            )
            for delivery in peer.deliveries.values():
                if delivery.state is S.ACTIVE and self._touches(delivery, pdu.failed, ()):
                    self._writer.report(delivery.row, "failed", frame)
        elif isinstance(pdu, ErrorIndication):
            cause = cause_text(pdu.cause) if pdu.cause is not None else "none"
            PROTOCOL_ERRORS.labels(name, INTERFACE, f"peer_{cause}").inc()
            log.warning("MME sent Error-Indication", extra={"peer": name, "cause": cause})

    def _restarted(
        self, engine: DeliveryEngine, peer: PeerRuntime, pdu: PwsRestartIndication
    ) -> None:
        """Every warning in force where the eNB restarted is written again (TS 23.041 9.1.3.5.4)."""
        log.warning(
            "eNB restarted; re-sending the warnings in force there",
            extra={"peer": peer.cfg.name, "enb": pdu.enb.value, "cells": len(pdu.restarted)},
        )
        for delivery in list(peer.deliveries.values()):
            if delivery.state is S.ACTIVE and self._touches(delivery, pdu.restarted, pdu.tais):
                engine.step(peer, delivery, Event.RESTART)

    @staticmethod
    def _touches(delivery: DeliveryRt, cells: Sequence[Ecgi], tais: Sequence[Tai]) -> bool:
        """Whether the delivery's target has any of these cells or tracking areas (cells
        and emergency areas cannot be matched to each other here: assume it does)."""
        target = delivery.message.alert.target
        if target.kind is AreaKind.ECGI:
            mine = {(f"{c.mcc}-{c.mnc}", c.ci) for c in target.cells}
            return any((e.plmn, e.eci) in mine for e in cells)
        if target.kind is AreaKind.TAI and tais:
            return bool({tai_of(c) for c in target.cells} & set(tais))
        return True
