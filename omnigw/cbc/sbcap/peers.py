"""The SBc-AP peers (MMEs): client-mode associations kept open with backoff (the usual way:
the MME listens on 29168), a listener admitting configured MMEs in server mode, and each
link's events handed to the delivery engine through the SBc-AP adapter.

Without kernel SCTP (and the SCTP transport configured), each MME is named in the log at
start as unreachable and stays down; the rest of the daemon runs.
"""

from __future__ import annotations

import asyncio
import logging

from omnigw.cbc.engine import DeliveryEngine
from omnigw.cbc.metrics import MESSAGES, PEER_UP, SECOND_CONNECTIONS
from omnigw.cbc.peering import PeerLinks
from omnigw.cbc.runtime import PeerRuntime, Runtime
from omnigw.cbc.sbcap.adapter import INTERFACE, SbcapSouthbound
from omnigw.cbc.sbcap.causes import cause_text
from omnigw.cbc.sbcap.codec import Pdu
from omnigw.cbc.sbcap.fsm import Deliver, DeliverAnswer, LinkFsm
from omnigw.cbc.sbcap.link import SbcapLink
from omnigw.config import SbcapSettings
from omnigw.reconnect import Reconnectors
from omnigw.transport import sctp
from omnigw.transport.open import Listener, connect, serve

log = logging.getLogger("omnigw.cbc")


class SbcapPeers(PeerLinks):
    interface, protocol, link_name = INTERFACE, "SBc-AP", "SBc-AP association"

    def __init__(
        self,
        cfg: SbcapSettings,
        runtime: Runtime,
        engine: DeliveryEngine,
        southbound: SbcapSouthbound,
    ) -> None:
        self.cfg = cfg
        self._south = southbound
        super().__init__(runtime, engine)
        self._listener: Listener | None = None
        self._reconnectors = Reconnectors()

    async def start(self) -> None:
        for peer in self._peers.values():
            PEER_UP.labels(peer.cfg.name, INTERFACE).set(0)
        if not self._peers:
            return
        if self.cfg.transport == "sctp":
            missing = sctp.unavailable()
            if missing is not None:
                for name in self._peers:
                    log.error(
                        "SBc-AP peer unreachable: this kernel has no SCTP; the rest of the "
                        "daemon runs",
                        extra={"peer": name, "reason": missing},
                    )
                return
        local = [str(a) for a in self.cfg.bind]
        if self._by_address:
            self._listener = await serve(self.cfg.transport, local, self.cfg.port, self.admit)
        for peer in self._peers.values():
            if peer.cfg.mode == "client":
                remote = [str(a) for a in (peer.cfg.address, *peer.cfg.addresses)]
                where = {"remote": remote, "port": peer.cfg.port}
                bound = local if len(local) > 1 else []  # several: multi-homed
                self._reconnectors.start(
                    "SBc-AP connect", where,
                    lambda p=peer, r=remote, b=bound: self._connect(p, r, b),  # type: ignore[misc]
                    ceiling=self.cfg.reconnect_max_seconds,
                )  # fmt: skip

    async def stop(self) -> None:
        await self._reconnectors.stop()
        if self._listener is not None:
            self._listener.close()
        for peer in self._peers.values():
            if isinstance(peer.link, SbcapLink):
                peer.link.close("shutting down")

    def bound_port(self) -> int | None:
        return self._listener.port if self._listener is not None else None

    async def _connect(
        self, peer: PeerRuntime, remote: list[str], local: list[str]
    ) -> asyncio.Future[str]:
        link = self._make_link(peer)
        await connect(self.cfg.transport, remote, peer.cfg.port, local, link)
        return link.closed

    # --- admission -------------------------------------------------------------------------

    def _make_link(self, peer: PeerRuntime) -> SbcapLink:
        return SbcapLink(peer.cfg.name, LinkFsm(self.cfg.stream), self)

    def admit(self, address: str) -> SbcapLink | None:
        """Server mode: a link for a configured MME's address, or None to refuse it."""
        peer = self._known(address)
        if peer is None:
            return None
        name = peer.cfg.name
        if peer.up:
            # SBc-AP has no probe of its own: SCTP's heartbeats close a dead association.
            SECOND_CONNECTIONS.labels(name, INTERFACE).inc()
            log.warning(
                "refused a second SBc-AP association from an MME's address",
                extra={"peer": name, "remote": address},
            )
            return None
        return self._make_link(peer)

    # --- LinkHandler -----------------------------------------------------------------------

    def link_error(self, link: SbcapLink, cause: int, reason: str, answered: bool) -> None:
        self._protocol_error(link.peer, cause_text(cause), reason, answered)

    def link_sent(self, link: SbcapLink, pdu: Pdu) -> None:
        MESSAGES.inc(self._peers[link.peer].sent)

    def link_answer(self, link: SbcapLink, action: DeliverAnswer) -> None:
        self._south.answer(self._engine, self._peers[link.peer], action.pdu, action.frame)

    def link_pdu(self, link: SbcapLink, action: Deliver) -> None:
        self._south.indication(self._engine, self._peers[link.peer], action.pdu, action.frame)
