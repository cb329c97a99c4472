"""A simulated BSC speaking CBSP: answers RESET, KEEP-ALIVE, WRITE-REPLACE, KILL, status queries.

It serves a fixed set of CGIs, refuses cells it does not serve with "cell identity
not valid", can send RESTART, and records every PDU it receives. Used by the
tests, the fan-out benchmark, and operators' labs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import cast

from omnigw.cbc.cbsp.codec import (
    HEADER,
    Cause,
    CellCount,
    CellFailure,
    CellList,
    DecodeError,
    Discriminator,
    MsgType,
    Pdu,
    decode,
    encode,
    frame_length,
)
from omnigw.cbc.cells import CellId


@lru_cache(maxsize=256)
def _decode(frame: bytes) -> Pdu:
    """A fleet is one process: its BSCs all receive the same PLMN-wide PDU; decode it once."""
    return decode(frame)


@dataclass
class SimBsc(asyncio.Protocol):
    cells: Sequence[CellId]
    silent: bool = False  # receive but never answer (timeouts)
    received: list[Pdu] = field(default_factory=list)
    active: dict[tuple[int, int], CellList] = field(default_factory=dict)
    answered: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        # The completed list never changes: encode it once (a big BSC lists 500 cells).
        counts = tuple(CellCount(c, 0) for c in self.cells)
        template = encode(
            Pdu(MsgType.WRITE_REPLACE_COMPLETE, message_id=0, new_serial=0,
                completed_discriminator=Discriminator.CGI, completed=counts)
        )  # fmt: skip
        self._completed_ie = template[HEADER + 6 :]
        self._all_cells = frozenset(self.cells)
        self._all = CellList(Discriminator.CGI, tuple(self.cells))
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self.connected = asyncio.Event()
        self.closed = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        self.closed.clear()
        self.connected.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.connected.clear()
        self.closed.set()

    def send(self, pdu: Pdu) -> None:
        assert self._transport is not None
        self._transport.write(encode(pdu))

    def restart(self, data_lost: bool = True) -> None:
        self.active.clear()
        self.send(
            Pdu(MsgType.RESTART, cell_list=CellList(Discriminator.CGI, tuple(self.cells)),
                broadcast_type=0, recovery=1 if data_lost else 0)
        )  # fmt: skip

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while (size := frame_length(self._buffer)) is not None and len(self._buffer) >= size:
            frame = bytes(self._buffer[:size])
            del self._buffer[:size]
            try:
                pdu = _decode(frame)
            except DecodeError as exc:
                self.send(Pdu(MsgType.ERROR_INDICATION, cause=exc.cause))
                continue
            self.received.append(pdu)
            if not self.silent:
                self._answer(pdu)

    def _complete_all(self, pdu: Pdu) -> None:
        refs = b"\x0e" + (pdu.message_id or 0).to_bytes(2, "big")
        refs += b"\x03" + (pdu.new_serial or 0).to_bytes(2, "big")
        if pdu.old_serial is not None:
            refs += b"\x02" + pdu.old_serial.to_bytes(2, "big")
        size = len(refs) + len(self._completed_ie)
        head = bytes([MsgType.WRITE_REPLACE_COMPLETE]) + size.to_bytes(3, "big")
        assert self._transport is not None
        self._transport.writelines((head, refs, self._completed_ie))  # no 5 KB copies

    def _split(self, cells: CellList) -> tuple[list[CellId], list[CellId]]:
        if cells.discriminator is Discriminator.ALL_IN_BSC:
            return list(self.cells), []
        if cells.discriminator is Discriminator.CGI:
            mine = set(self.cells)
            return [c for c in cells.cells if c in mine], [c for c in cells.cells if c not in mine]
        if cells.discriminator is Discriminator.LAC:
            lacs = {c.lac for c in cells.cells}
            return [c for c in self.cells if c.lac in lacs], []
        return list(self.cells), []

    def _answer(self, pdu: Pdu) -> None:
        if pdu.type is MsgType.KEEP_ALIVE:
            self.send(Pdu(MsgType.KEEP_ALIVE_COMPLETE))
        elif pdu.type is MsgType.RESET:
            self.active.clear()
            self.send(Pdu(MsgType.RESET_COMPLETE, cell_list=pdu.cell_list))
        elif pdu.type is MsgType.WRITE_REPLACE:
            assert pdu.cell_list is not None and pdu.message_id is not None
            if pdu.old_serial is not None:
                self.active.pop((pdu.message_id, pdu.old_serial), None)
            if pdu.cell_list.discriminator is Discriminator.ALL_IN_BSC:
                self._complete_all(pdu)
                self.active[(pdu.message_id, pdu.new_serial or 0)] = self._all
                self.answered.set()
                return
            ok, bad = self._split(pdu.cell_list)
            key = (pdu.message_id, pdu.new_serial or 0)
            if pdu.old_serial is not None:
                self.active.pop((pdu.message_id, pdu.old_serial), None)
            counts = tuple(CellCount(c, 0) for c in ok)
            if bad or not ok:
                failures = tuple(
                    CellFailure(Discriminator.CGI, c, Cause.CELL_ID_NOT_VALID) for c in bad
                )
                self.send(
                    Pdu(MsgType.WRITE_REPLACE_FAILURE, message_id=pdu.message_id,
                        new_serial=pdu.new_serial, old_serial=pdu.old_serial,
                        failures=failures, completed_discriminator=Discriminator.CGI,
                        completed=counts or None)
                )  # fmt: skip
            else:
                self.send(
                    Pdu(MsgType.WRITE_REPLACE_COMPLETE, message_id=pdu.message_id,
                        new_serial=pdu.new_serial, old_serial=pdu.old_serial,
                        completed_discriminator=Discriminator.CGI, completed=counts)
                )  # fmt: skip
            if ok:
                self.active[key] = CellList(Discriminator.CGI, tuple(ok))
        elif pdu.type is MsgType.KILL:
            assert pdu.message_id is not None
            held = self.active.pop((pdu.message_id, pdu.old_serial or 0), None)
            counts = tuple(CellCount(c, 3) for c in (held.cells if held else ()))
            self.send(
                Pdu(MsgType.KILL_COMPLETE, message_id=pdu.message_id, old_serial=pdu.old_serial,
                    completed_discriminator=Discriminator.CGI, completed=counts or None)
            )  # fmt: skip
        elif pdu.type is MsgType.MSG_STATUS_QUERY:
            held = self.active.get((pdu.message_id or 0, pdu.old_serial or 0))
            counts = tuple(CellCount(c, 7) for c in (held.cells if held else ()))
            self.send(
                Pdu(MsgType.MSG_STATUS_QUERY_COMPLETE, message_id=pdu.message_id,
                    old_serial=pdu.old_serial, completed_discriminator=Discriminator.CGI,
                    completed=counts, channel=0)
            )  # fmt: skip
        self.answered.set()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def writes(self) -> list[Pdu]:
        return [p for p in self.received if p.type is MsgType.WRITE_REPLACE]


async def connect(
    host: str, port: int, cells: Sequence[CellId], local_address: str | None = None
) -> SimBsc:
    """A simulated BSC in client mode (it connects to the CBC, as osmo-bsc can)."""
    loop = asyncio.get_running_loop()
    bsc = SimBsc(cells)
    local = (local_address, 0) if local_address else None
    await loop.create_connection(lambda: bsc, host, port, local_addr=local)
    return bsc


async def listen(host: str, port: int, cells: Sequence[CellId]) -> tuple[asyncio.Server, SimBsc]:
    """A simulated BSC in server mode (the CBC connects to it)."""
    bsc = SimBsc(cells)
    server = await asyncio.get_running_loop().create_server(lambda: bsc, host, port)
    return server, bsc


def fleet_cells(index: int, cells: int, mcc: str, mnc: str) -> list[CellId]:
    """BSC number `index` serves LAC 1000+index with cell ids 0..cells-1."""
    return [CellId(mcc, mnc, 1000 + index, ci) for ci in range(cells)]


def fleet_address(index: int) -> str:
    """A distinct loopback source address per simulated BSC: 127.0.1.1, 127.0.1.2, ..."""
    return f"127.0.{1 + index // 250}.{1 + index % 250}"


async def run_fleet(
    host: str, port: int, count: int, cells: int, mcc: str = "901", mnc: str = "70"
) -> list[SimBsc]:
    """Connect `count` simulated BSCs, each from its own loopback address."""
    fleet = []
    for index in range(count):
        fleet.append(
            await connect(host, port, fleet_cells(index, cells, mcc, mnc), fleet_address(index))
        )
    return fleet
