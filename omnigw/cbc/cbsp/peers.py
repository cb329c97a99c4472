"""The CBSP peers: the listener and its admission of configured BSCs, client-mode reconnects,
and each link's events handed to the delivery engine through the CBSP adapter."""

from __future__ import annotations

import asyncio
import logging

from omnigw.cbc.cbsp.adapter import CbspSouthbound
from omnigw.cbc.cbsp.codec import Cause, Pdu, Summary
from omnigw.cbc.cbsp.fsm import LinkFsm
from omnigw.cbc.cbsp.link import CbspLink
from omnigw.cbc.engine import DeliveryEngine
from omnigw.cbc.metrics import MESSAGES, PEER_UP, SECOND_CONNECTIONS
from omnigw.cbc.peering import PeerLinks
from omnigw.cbc.runtime import PeerRuntime, Runtime
from omnigw.config import CbspSettings
from omnigw.reconnect import Reconnectors
from omnigw.transport.open import Gate

log = logging.getLogger("omnigw.cbc")

INTERFACE = "cbsp"


class CbspPeers(PeerLinks):
    interface, protocol, link_name = INTERFACE, "CBSP", "CBSP link"

    def __init__(
        self,
        cfg: CbspSettings,
        runtime: Runtime,
        engine: DeliveryEngine,
        southbound: CbspSouthbound,
    ) -> None:
        self.cfg = cfg
        self._south = southbound
        super().__init__(runtime, engine)
        self._server: asyncio.Server | None = None
        self._reconnectors = Reconnectors()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for peer in self._peers.values():
            PEER_UP.labels(peer.cfg.name, INTERFACE).set(0)
        if self._by_address:
            self._server = await loop.create_server(self.accept, str(self.cfg.bind), self.cfg.port)
        for peer in self._peers.values():
            if peer.cfg.mode == "client":
                where = {"host": str(peer.cfg.address), "port": peer.cfg.port}
                self._reconnectors.start(
                    "CBSP connect", where, lambda p=peer: self._connect(p),  # type: ignore[misc]
                    ceiling=self.cfg.reconnect_max_seconds,
                )  # fmt: skip

    async def stop(self) -> None:
        await self._reconnectors.stop()
        if self._server is not None:
            self._server.close()
        for peer in self._peers.values():
            if isinstance(peer.link, CbspLink):
                peer.link.close("shutting down")

    async def closed(self) -> None:
        if self._server is not None:
            await self._server.wait_closed()

    def bound_port(self) -> int | None:
        if self._server is None:
            return None
        return int(self._server.sockets[0].getsockname()[1])

    async def _connect(self, peer: PeerRuntime) -> asyncio.Future[str]:
        loop = asyncio.get_running_loop()
        _, link = await loop.create_connection(
            lambda: self._make_link(peer), str(peer.cfg.address), peer.cfg.port
        )
        return link.closed

    # --- admission -------------------------------------------------------------------------

    def _make_link(self, peer: PeerRuntime) -> CbspLink:
        s = self.cfg
        fsm = LinkFsm(s.keepalive_seconds, s.keepalive_timeout_seconds, s.reset_timeout_seconds)
        return CbspLink(peer.cfg.name, fsm, self, lambda: peer.cfg.name not in self._rt.holding)

    def accept(self) -> asyncio.Protocol:
        return Gate(self.admit)

    def admit(self, address: str) -> CbspLink | None:
        """Server mode: a link for a configured peer's address, or None to refuse it."""
        peer = self._known(address)
        if peer is None:
            return None
        name = peer.cfg.name
        if isinstance(peer.link, CbspLink):
            # Never silently replaced: the established link is asked for a KEEP-ALIVE and
            # the newcomer refused. A link that does not answer closes within the
            # keep-alive timeout, and the BSC's next attempt is admitted.
            peer.link.probe()
            SECOND_CONNECTIONS.labels(name, INTERFACE).inc()
            log.warning(
                "refused a second CBSP connection from a peer's address; its established "
                "link is being checked",
                extra={"peer": name, "remote": address},
            )
            return None
        return self._make_link(peer)

    # --- LinkHandler -----------------------------------------------------------------------

    def link_error(self, link: CbspLink, cause: int, reason: str, answered: bool = True) -> None:
        name = Cause(cause).name.lower() if cause in Cause._value2member_map_ else str(cause)
        self._protocol_error(link.peer, name, reason, answered)

    def link_sent(self, link: CbspLink, pdu: Pdu, wire: bytes) -> None:
        MESSAGES.inc(self._peers[link.peer].sent)

    def link_answer(self, link: CbspLink, summary: Summary, frame: bytes) -> None:
        self._south.answer(self._engine, self._peers[link.peer], summary, frame)

    def link_pdu(self, link: CbspLink, pdu: Pdu) -> None:
        self._south.indication(self._engine, self._peers[link.peer], pdu)
