"""The CBC delivery engine's own cost per delivery, without sockets.

The CBC service runs with its store, and each of `--bscs` simulated BSCs is
joined to it by an in-memory transport, so what is timed is omnigw's Python
work only: sending an alert's WRITE-REPLACE to every peer, and handling every
peer's COMPLETE (framing, peek, state machine, metrics, store queue). The
kernel's share (one send and one receive per peer) is what cbc_fanout.py adds.
Printed per delivery: median and best round, in microseconds.

    .venv/bin/python bench/cbc_engine.py --bscs 200 --cells 500 --rounds 60
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from omnigw.cbc.areas import Areas
from omnigw.cbc.messages import AlertClass
from omnigw.cbc.service import AlertSpec, CbcService, Text
from omnigw.config import CbcConfig
from omnigw.sim.bsc import SimBsc, fleet_address, fleet_cells
from omnigw.store.engine import create_engine, session_factory
from omnigw.store.migrate import upgrade
from tests.support.ports import free_port


class Pipe:
    """One direction of an in-memory connection: writes are kept until delivered."""

    def __init__(self, peer_address: str) -> None:
        self.written: list[bytes] = []
        self.protocol: Any = None  # who reads what arrives on this connection
        self._peer = peer_address

    def write(self, data: bytes) -> None:
        self.written.append(bytes(data))

    def writelines(self, parts: Iterable[bytes]) -> None:
        self.written.append(b"".join(parts))

    def is_closing(self) -> bool:
        return False

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return (self._peer, 48049) if name == "peername" else default

    def set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol

    def close(self) -> None:
        pass


def deliver(pipe: Pipe, receiver: Any) -> None:
    for data in pipe.written:
        receiver.data_received(data)
    pipe.written.clear()


async def main(bscs: int, cells: int, rounds: int) -> None:
    url = f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp(prefix='omnigw-engine-')) / 'cbc.db'}"
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(url)
    cfg = CbcConfig.model_validate(
        {
            "cbsp": {"port": free_port(), "answer_timeout_seconds": 60},
            "peers": [{"name": f"bsc{i}", "address": fleet_address(i)} for i in range(bscs)],
        }
    )
    service = CbcService(cfg, session_factory(engine))
    await service.start()
    peers = []
    for index in range(bscs):
        to_bsc = Pipe(fleet_address(index))
        to_bsc.protocol = service.cbsp.accept()  # what the CBSP listener does on a connection
        to_bsc.protocol.connection_made(to_bsc)  # admitted: the link takes the transport
        link = to_bsc.protocol
        bsc = SimBsc(fleet_cells(index, cells, "901", "70"))
        to_cbc = Pipe("127.0.0.1")
        bsc.connection_made(to_cbc)  # type: ignore[arg-type]
        peers.append((link, to_bsc, bsc, to_cbc))
    while not all(service.peer_status().values()):  # RESET and its COMPLETE
        for link, to_bsc, bsc, to_cbc in peers:
            deliver(to_bsc, bsc)
            deliver(to_cbc, link)
        await asyncio.sleep(0.01)
    spec = AlertSpec(target=Areas(cfg).plmn(), texts=(Text("en", "Engine benchmark"),),
                     alert_class=AlertClass.PRESIDENTIAL)  # fmt: skip
    gc.freeze()
    sends, answers = [], []
    for round_ in range(rounds + 5):
        await service.submit(spec, "bench")
        started = time.perf_counter()
        await asyncio.sleep(0)  # the fan-out runs right after the submission
        sent = time.perf_counter()
        for _, to_bsc, bsc, _ in peers:
            deliver(to_bsc, bsc)
        answering = time.perf_counter()
        for link, _, _, to_cbc in peers:
            deliver(to_cbc, link)
        answered = time.perf_counter()
        if round_ >= 5:  # the first rounds warm caches up
            sends.append((sent - started) / bscs)
            answers.append((answered - answering) / bscs)
        await asyncio.sleep(0.02)  # let the group commit go out between rounds
    print(f"{bscs} BSCs x {cells} cells, {rounds} alerts; per delivery, median (best round):")
    for name, samples in (("send WRITE-REPLACE", sends), ("handle COMPLETE", answers)):
        print(f"  {name:<19} {statistics.median(samples) * 1e6:6.1f} us"
              f"  ({min(samples) * 1e6:.1f} us)")  # fmt: skip
    await service.stop()
    await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bscs", type=int, default=200)
    parser.add_argument("--cells", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args()
    uvloop.run(main(args.bscs, args.cells, args.rounds))
