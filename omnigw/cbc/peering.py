"""What every protocol's peers module does with its links' coming and going, whatever the
protocol: the peer's link in the runtime view, the peer-up gauge, the log line, and the
delivery engine told."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from omnigw.cbc.engine import DeliveryEngine
from omnigw.cbc.metrics import PEER_UP, PROTOCOL_ERRORS, UNKNOWN_PEERS
from omnigw.cbc.runtime import Link, PeerRuntime, Runtime

log = logging.getLogger("omnigw.cbc")


class PeerLink(Link, Protocol):
    peer: str  # the configured peer's name


class PeerLinks:
    """The link events every protocol's peers share; subclasses admit and open links."""

    interface = ""  # the metric label, "cbsp" or "sbcap"
    protocol = ""  # how the log names it: "CBSP", "SBc-AP"
    link_name = ""  # and a link: "CBSP link", "SBc-AP association"

    def __init__(self, runtime: Runtime, engine: DeliveryEngine) -> None:
        self._rt = runtime
        self._engine = engine
        self._peers = {n: p for n, p in runtime.peers.items() if p.interface == self.interface}
        # Server mode: each configured address -> its peer
        self._by_address = {
            str(address): name
            for name, p in self._peers.items()
            if p.cfg.mode == "server"
            for address in (p.cfg.address, *p.cfg.addresses)
        }

    def _known(self, address: str) -> PeerRuntime | None:
        """Server mode: the peer configured at `address`, or None (counted, logged)."""
        name = self._by_address.get(address)
        if name is None:
            UNKNOWN_PEERS.labels(self.interface).inc()
            log.warning(
                f"refused a {self.protocol} connection from an unknown peer",
                extra={"remote": address},
            )
            return None
        return self._peers[name]

    def link_up(self, link: PeerLink) -> None:
        peer = self._peers[link.peer]
        peer.link, peer.writable = link, True
        PEER_UP.labels(link.peer, self.interface).set(1)
        log.info(f"{self.link_name} up", extra={"peer": link.peer})
        asyncio.get_running_loop().call_soon(self._engine.peer_up, peer)

    def link_down(self, link: PeerLink, reason: str) -> None:
        peer = self._peers[link.peer]
        if peer.link is not link:
            return  # a link refused or replaced: not the peer's
        peer.link = None
        PEER_UP.labels(link.peer, self.interface).set(0)
        log.warning(f"{self.link_name} down", extra={"peer": link.peer, "reason": reason})
        self._engine.peer_down(peer)

    def link_writable(self, link: PeerLink, writable: bool) -> None:
        self._engine.writable(self._peers[link.peer], writable)

    def _protocol_error(self, name: str, cause: str, reason: str, answered: bool) -> None:
        PROTOCOL_ERRORS.labels(name, self.interface, cause).inc()
        if answered:  # a flood is counted, not logged line by line (see the link machines)
            log.warning(
                f"{self.protocol} protocol error",
                extra={"peer": name, "cause": cause, "reason": reason},
            )
