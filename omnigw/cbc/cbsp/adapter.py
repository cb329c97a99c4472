"""CBSP as the delivery engine's southbound: WRITE-REPLACE, KILL and MESSAGE STATUS QUERY
for a message on a BSC, and the BSC's answers and indications as engine events."""

from __future__ import annotations

import logging

from omnigw.cbc.areas import Target
from omnigw.cbc.cbsp.codec import (
    Cause,
    CellList,
    Content,
    DecodeError,
    Discriminator,
    MsgType,
    Pdu,
    Summary,
    decode,
    encode,
)
from omnigw.cbc.cells import AreaKind
from omnigw.cbc.delivery import DeliveryState, Event
from omnigw.cbc.engine import DeliveryEngine, Request
from omnigw.cbc.messages import Category, SerialNumber
from omnigw.cbc.metrics import PROTOCOL_ERRORS
from omnigw.cbc.runtime import AlertRt, MessageRt, PeerRuntime, Runtime
from omnigw.cbc.writer import DeliveryRow

log = logging.getLogger("omnigw.cbc")

REPETITION_UNIT = 1.883  # seconds per CBSP repetition-period unit
S = DeliveryState


# A neutral target's kind as CBSP's cell identification discriminator (TS 48.049 8.2.6)
DISCRIMINATOR = {
    AreaKind.ALL: Discriminator.ALL_IN_BSC, AreaKind.CGI: Discriminator.CGI,
    AreaKind.LAC: Discriminator.LAC, AreaKind.LAI: Discriminator.LAI,
}  # fmt: skip
ALL_IN_BSC = CellList(Discriminator.ALL_IN_BSC)


def cell_list(target: Target) -> CellList:
    return CellList(DISCRIMINATOR[target.kind], target.cells)


class CbspSouthbound:
    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime

    # --- requests --------------------------------------------------------------------------

    def covers(self, peer: PeerRuntime, alert: AlertRt) -> bool:
        return alert.target.for_peer(peer.served) is not None

    def _cells(self, peer: PeerRuntime, message: MessageRt) -> CellList | None:
        """The alert's cells on this peer as a CBSP list; None: it serves none of them."""
        mine = message.alert.target.for_peer(peer.served)
        return cell_list(mine) if mine is not None else None

    def write(self, peer: PeerRuntime, message: MessageRt, row: DeliveryRow) -> Request | None:
        """The WRITE-REPLACE of `message` for `peer`, and its encoding; None: no cell to write."""
        cells = self._cells(peer, message)
        if cells is None:
            return None
        serial = message.serial
        old = row.confirmed_serial
        # Same serial again (the peer lost it): a fresh write, not a replace.
        old_serial = old if old is not None and old != serial else None
        key = ("cbsp", cells, old_serial)
        write: Request | None = message.encodings.get(key)
        if write is None:
            pdu = self._write_pdu(message, cells, old_serial)
            write = message.encodings[key] = (pdu, encode(pdu))
        return write

    @staticmethod
    def _write_pdu(message: MessageRt, cells: CellList, old_serial: int | None) -> Pdu:
        alert = message.alert
        serial = message.serial
        if message.warning_type is not None:
            return Pdu(
                MsgType.WRITE_REPLACE, message_id=message.identifier, new_serial=serial,
                old_serial=old_serial, cell_list=cells, emergency=1,
                warning_type=message.warning_type, warning_security=bytes(50),
                warning_period=min(alert.repetition_seconds, 6000),
            )  # fmt: skip
        period = max(1, min(4095, round(alert.repetition_seconds / REPETITION_UNIT)))
        return Pdu(
            MsgType.WRITE_REPLACE, message_id=message.identifier, new_serial=serial,
            old_serial=old_serial, cell_list=cells, channel=0,
            category=Category(alert.category), repetition_period=period,
            broadcasts_requested=alert.broadcasts, number_of_pages=len(message.pages),
            dcs=message.dcs, content=tuple(Content(p.content, p.length) for p in message.pages),
        )  # fmt: skip

    def kill(self, peer: PeerRuntime, message: MessageRt, row: DeliveryRow) -> Request:
        """KILL of `message` wherever the alert targets on this peer."""
        return self._kill(message, row, self._cells(peer, message) or ALL_IN_BSC), None

    def kill_left(
        self, peer: PeerRuntime, message: MessageRt, row: DeliveryRow, old: Target
    ) -> Request | None:
        served = peer.served
        now = message.alert.target.for_peer(served)
        before = old.for_peer(served)
        if now is None or before is None or row.confirmed_serial is None:
            return None
        if before.kind is not now.kind:
            return None
        staying = set(now.cells)
        gone = tuple(c for c in before.cells if c not in staying)
        if not gone:
            return None
        return self._kill(message, row, CellList(DISCRIMINATOR[now.kind], gone)), None

    @staticmethod
    def _kill(message: MessageRt, row: DeliveryRow, cells: CellList) -> Pdu:
        return Pdu(
            MsgType.KILL, message_id=message.identifier,
            old_serial=row.confirmed_serial or message.serial, cell_list=cells,
            channel=None if message.warning_type is not None else 0,
        )  # fmt: skip

    def query(self, peer: PeerRuntime, message: MessageRt, row: DeliveryRow) -> Request:
        query = Pdu(
            MsgType.MSG_STATUS_QUERY, message_id=message.identifier,
            old_serial=row.confirmed_serial, cell_list=self._cells(peer, message) or ALL_IN_BSC,
            channel=0,
        )  # fmt: skip
        return query, None

    # --- what the BSC says -----------------------------------------------------------------

    def answer(
        self, engine: DeliveryEngine, peer: PeerRuntime, summary: Summary, frame: bytes
    ) -> None:
        """A WRITE-REPLACE / KILL / STATUS answer, read only as far as matching needs."""
        serial = summary.new_serial if summary.new_serial is not None else summary.old_serial
        if summary.message_id is None or serial is None:
            return
        code = SerialNumber.code_of(serial)
        delivery = self._rt.refs.get((peer.cfg.name, summary.message_id, code))
        if delivery is None:
            log.warning(
                "answer for an unknown message",
                extra={"peer": peer.cfg.name, "message_id": summary.message_id},
            )
            return
        t = summary.type
        if t is MsgType.WRITE_REPLACE_COMPLETE:
            engine.step(peer, delivery, Event.COMPLETE, frame)
        elif t is MsgType.WRITE_REPLACE_FAILURE:
            try:
                pdu = decode(frame)
            except DecodeError:
                return  # peek already validated the framing; nothing more to learn
            refs_used = bool(pdu.failures) and all(
                f.cause is Cause.MSG_REF_ALREADY_USED for f in pdu.failures or ()
            )
            if refs_used:  # the peer already holds this very message
                engine.step(peer, delivery, Event.COMPLETE, frame)
            else:
                partial = bool(pdu.completed or (pdu.cell_list and pdu.cell_list.cells))
                engine.step(peer, delivery, Event.FAILURE, frame, partial)
        elif t in (MsgType.KILL_COMPLETE, MsgType.KILL_FAILURE):
            done = Event.KILL_COMPLETE if t is MsgType.KILL_COMPLETE else Event.KILL_FAILURE
            engine.step(peer, delivery, done, frame)
        elif t is MsgType.MSG_STATUS_QUERY_COMPLETE:
            engine.status_report(delivery, frame)

    def indication(self, engine: DeliveryEngine, peer: PeerRuntime, pdu: Pdu) -> None:
        """RESTART, ERROR INDICATION, FAILURE and the rest of what a BSC sends unasked."""
        name = peer.cfg.name
        if pdu.type is MsgType.RESTART:
            lost = pdu.recovery != 0
            log.warning("BSC restarted", extra={"peer": name, "data_lost": lost})
            if lost:
                for delivery in list(peer.deliveries.values()):
                    if delivery.state in (S.ACTIVE, S.WRITING, S.FAILED):
                        engine.step(peer, delivery, Event.RESTART)
        elif pdu.type is MsgType.ERROR_INDICATION:
            cause = (pdu.cause or Cause.UNSPECIFIED).name.lower()
            PROTOCOL_ERRORS.labels(name, "cbsp", f"peer_{cause}").inc()
            log.warning(
                "BSC sent ERROR INDICATION",
                extra={"peer": name, "cause": cause, "message_id": pdu.message_id},
            )
        elif pdu.type is MsgType.FAILURE:
            log.warning("BSC reports cell broadcast failure", extra={"peer": name})
        else:
            log.info("CBSP message", extra={"peer": name, "type": pdu.type.name})
