"""What every protocol's peers module does with its links' coming and going, whatever the
protocol: the peer's link in the runtime view, the peer-up gauge, the log line, and the
delivery engine told."""

from __future__ import annotations

import asyncio
import logging

from omnigw.cbc.engine import DeliveryEngine
from omnigw.cbc.metrics import PEER_UP, PROTOCOL_ERRORS
from omnigw.cbc.runtime import Link, PeerRuntime

log = logging.getLogger("omnigw.cbc")


class PeerLinks:
    """The link events every protocol's peers share; subclasses admit and open links."""

    interface = ""  # the metric label, "cbsp" or "sbcap"
    protocol = ""  # how the log names it: "CBSP", "SBc-AP"
    link_name = ""  # and a link: "CBSP link", "SBc-AP association"

    def __init__(self, peers: dict[str, PeerRuntime], engine: DeliveryEngine) -> None:
        self._peers = peers
        self._engine = engine

    def _link_up(self, name: str, link: Link) -> None:
        peer = self._peers[name]
        peer.link, peer.writable = link, True
        PEER_UP.labels(name, self.interface).set(1)
        log.info(f"{self.link_name} up", extra={"peer": name})
        asyncio.get_running_loop().call_soon(self._engine.peer_up, peer)

    def _link_down(self, name: str, link: Link, reason: str) -> None:
        peer = self._peers[name]
        if peer.link is not link:
            return  # a link refused or replaced: not the peer's
        peer.link = None
        PEER_UP.labels(name, self.interface).set(0)
        log.warning(f"{self.link_name} down", extra={"peer": name, "reason": reason})
        self._engine.peer_down(peer)

    def _link_writable(self, name: str, writable: bool) -> None:
        self._engine.writable(self._peers[name], writable)

    def _protocol_error(self, name: str, cause: str, reason: str, answered: bool) -> None:
        PROTOCOL_ERRORS.labels(name, self.interface, cause).inc()
        if answered:  # a flood is counted, not logged line by line (see the link machines)
            log.warning(
                f"{self.protocol} protocol error",
                extra={"peer": name, "cause": cause, "reason": reason},
            )
