"""A simulated MME speaking SBc-AP: answers Write-Replace-Warning and Stop-Warning per TS
29.168, reports the cells a warning is scheduled or stopped in, and can be told to refuse,
to stay silent, to report an eNB restart or cells that failed.

It serves fixed tracking areas and cells (every cell in every one of its TAIs: a target
of tracking areas it serves schedules all its cells), sends indications in batches as an
MME relaying its eNBs' answers does, and records every PDU it receives. Used by the tests,
the fan-out benchmark and operators' labs, over either transport of `omnigw.transport`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from omnigw.cbc.sbcap import aper
from omnigw.cbc.sbcap.causes import Cause
from omnigw.cbc.sbcap.codec import (
    PPID,
    DecodeError,
    Ecgi,
    EnbId,
    ErrorIndication,
    Pdu,
    PwsFailureIndication,
    PwsRestartIndication,
    StopWarningRequest,
    StopWarningResponse,
    Tai,
    WriteReplaceWarningRequest,
    WriteReplaceWarningResponse,
    decode,
    encode,
    plmn_bytes,
)
from omnigw.transport.base import MessageTransport
from omnigw.transport.open import Kind, Listener, connect, serve

CELLS_PER_INDICATION = 1000  # cells per indication: one eNB's worth and more


@dataclass
class SimMme:
    tais: Sequence[Tai]
    cells: Sequence[Ecgi]
    reject: int | None = None  # answer every request with this cause
    silent: bool = False  # receive but never answer (timeouts)
    indications: bool = True  # report scheduled and stopped cells when asked
    received: list[Pdu] = field(default_factory=list)
    errors: list[ErrorIndication] = field(default_factory=list)  # Error-Indications received
    arrivals: list[tuple[int, int]] = field(default_factory=list)  # (stream, PPID) of each
    # (message id, serial) -> the cells it is scheduled in
    active: dict[tuple[int, int], tuple[Ecgi, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._served = frozenset(self.tais)
        self._cells = frozenset(self.cells)
        # A fleet of these stands in for many machines in one process: the lists of all its
        # cells, in batches, are encoded once (scheduled, and stopped with one broadcast).
        self._all_scheduled = [_cell_list(part, False) for part in _batches(self.cells)]
        self._all_stopped = [_cell_list(part, True) for part in _batches(self.cells)]
        self._transport: MessageTransport | None = None
        self.connected = asyncio.Event()
        self.closed = asyncio.Event()
        self.answered = asyncio.Event()

    # --- MessageProtocol ---------------------------------------------------------------------

    def connection_made(self, transport: MessageTransport) -> None:
        self._transport = transport
        self.closed.clear()
        self.connected.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self.connected.clear()
        self.closed.set()

    def writable(self, writable: bool) -> None:
        pass

    def message_received(self, data: bytes, stream: int, ppid: int) -> None:
        self.arrivals.append((stream, ppid))
        try:
            pdu = decode(data)
        except DecodeError as exc:
            self.send(ErrorIndication(cause=exc.cause))
            return
        self.received.append(pdu)
        if isinstance(pdu, ErrorIndication):
            self.errors.append(pdu)
        elif self.silent:
            return
        elif isinstance(pdu, WriteReplaceWarningRequest):
            self._write(pdu)
        elif isinstance(pdu, StopWarningRequest):
            self._stop(pdu)
        self.answered.set()

    # --- answers -----------------------------------------------------------------------------

    def _known(self, tais: Sequence[Tai]) -> tuple[tuple[Tai, ...], tuple[Tai, ...]]:
        known = tuple(t for t in tais if t in self._served)
        return known, tuple(t for t in tais if t not in self._served)

    def _write(self, pdu: WriteReplaceWarningRequest) -> None:
        key = (pdu.message_id, pdu.serial)
        known, unknown = self._known(pdu.tais)
        if self.reject is not None:
            cause = self.reject
        elif not known:
            cause = Cause.TRACKING_AREA_NOT_VALID
        elif key in self.active:
            cause = Cause.MESSAGE_REFERENCE_ALREADY_USED
        else:
            cause = Cause.MESSAGE_ACCEPTED
        self.send(WriteReplaceWarningResponse(pdu.message_id, pdu.serial, cause, unknown))
        if cause != Cause.MESSAGE_ACCEPTED:
            return
        area = pdu.warning_area
        if area is not None and area.ecgis:
            cells = tuple(c for c in area.ecgis if c in self._cells)
        else:
            cells = tuple(self.cells)
        self.active[key] = cells
        if pdu.send_indication and self.indications and cells:
            lists = self._all_scheduled if area is None else [
                _cell_list(part, False) for part in _batches(cells)]  # fmt: skip
            for cell_list in lists:
                self.send_raw(_indication(3, pdu.message_id, pdu.serial, cell_list))

    def _stop(self, pdu: StopWarningRequest) -> None:
        cells = self.active.pop((pdu.message_id, pdu.serial), None)
        if self.reject is not None:
            cause = self.reject
        elif cells is None:
            cause = Cause.VALID_MESSAGE_NOT_IDENTIFIED
        else:
            cause = Cause.MESSAGE_ACCEPTED
        _, unknown = self._known(pdu.tais)
        self.send(StopWarningResponse(pdu.message_id, pdu.serial, cause, unknown))
        if cells and pdu.send_indication and self.indications:
            lists = self._all_stopped if cells == tuple(self.cells) else [
                _cell_list(part, True) for part in _batches(cells)]  # fmt: skip
            for cell_list in lists:
                self.send_raw(_indication(4, pdu.message_id, pdu.serial, cell_list))

    # --- unasked -----------------------------------------------------------------------------

    def restart(self, cells: Sequence[Ecgi] | None = None) -> None:
        """An eNB serving `cells` (default: all) restarted and lost its warnings."""
        lost = tuple(cells if cells is not None else self.cells)
        gone = set(lost)
        for key, scheduled in list(self.active.items()):
            if gone.intersection(scheduled):
                del self.active[key]  # the CBC's re-send is a fresh write
        self.send(PwsRestartIndication(lost, self._enb(lost), tuple(self.tais)))

    def fail(self, cells: Sequence[Ecgi]) -> None:
        """Cells that can broadcast no warning now."""
        self.send(PwsFailureIndication(tuple(cells), self._enb(cells)))

    def _enb(self, cells: Sequence[Ecgi]) -> EnbId:
        first = cells[0] if cells else Ecgi(self.tais[0].plmn, 0)
        return EnbId(first.plmn, "macroENB-ID", first.eci >> 8)

    def send(self, pdu: Pdu) -> None:
        self.send_raw(encode(pdu))

    def send_raw(self, data: bytes, stream: int = 0, ppid: int = PPID) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.send(data, stream, ppid)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


def _cell_list(cells: Sequence[Ecgi], stopped: bool) -> bytes:
    """A Broadcast-Scheduled- or -Cancelled-Area-List of these cells, encoded."""
    return aper.cell_reports([(plmn_bytes(c.plmn), c.eci, 1) for c in cells], stopped)


def _indication(procedure: int, message_id: int, serial: int, cell_list: bytes) -> bytes:
    """A Write-Replace-Warning- (3) or Stop-Warning-Indication (4) around an encoded list:
    what `encode` makes of the same indication, without encoding the list again."""
    reference = (message_id.to_bytes(2, "big"), serial.to_bytes(2, "big"))
    ies = [(5, "reject", reference[0]), (11, "reject", reference[1]),
           (23 if procedure == 3 else 25, "reject", cell_list)]  # fmt: skip
    return aper.pdu("initiatingMessage", procedure, "ignore", ies)


def _batches(cells: Sequence[Ecgi]) -> list[Sequence[Ecgi]]:
    return [cells[i : i + CELLS_PER_INDICATION] for i in range(0, len(cells), CELLS_PER_INDICATION)]


def sim_cells(plmn: str, index: int, count: int) -> list[Ecgi]:
    """`count` cells of the `index`th simulated MME (eNB ids from index * 4096)."""
    return [Ecgi(plmn, ((index * 4096 + i // 256) << 8) | (i % 256)) for i in range(count)]


async def listen(mme: SimMme, kind: Kind, host: str, port: int) -> Listener:
    """The MME as it usually is: listening for the CBC (one association at a time)."""

    def accept(remote: str) -> SimMme | None:
        return None if mme.connected.is_set() else mme

    return await serve(kind, [host], port, accept)


async def dial(mme: SimMme, kind: Kind, host: str, port: int, local: str | None = None) -> None:
    """The MME connecting to a CBC that listens (the CBC's server mode)."""
    await connect(kind, [host], port, [local] if local else [], mme)


def fleet_tais(plmn: str, index: int, count: int) -> list[Tai]:
    """The tracking areas of the `index`th simulated MME: TACs from index * 100 + 1."""
    return [Tai(plmn, index * 100 + 1 + i) for i in range(count)]


async def run_fleet(
    kind: Kind, host: str, port: int, count: int, cells: int, tais: int, plmn: str
) -> list[tuple[SimMme, Listener]]:
    """`count` simulated MMEs listening on `port`, `port` + 1, ..."""
    fleet = []
    for index in range(count):
        mme = SimMme(fleet_tais(plmn, index, tais), sim_cells(plmn, index, cells))
        fleet.append((mme, await listen(mme, kind, host, port + index)))
    return fleet
