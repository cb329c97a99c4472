"""M3UA over a message transport (PPID 3): messages into the ASP machine, its actions out,
its timers run. Client side only: an ASP connects to its SGP (an STP) and is known to it
by its address and port."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from omnigw.camel.m3ua.codec import (
    PPID,
    DecodeError,
    ProtocolData,
    decode,
    encode,
    frame_length,
)
from omnigw.camel.m3ua.fsm import (
    Action,
    Active,
    AspFsm,
    Connected,
    Deliver,
    Event,
    Malformed,
    Reachability,
    Received,
    Refused,
    Send,
    Transfer,
)
from omnigw.camel.metrics import ERRORS
from omnigw.machine import CancelTimer, Close, StartTimer, TimerExpired
from omnigw.timers import Timers
from omnigw.transport.base import MessageProtocol, MessageTransport
from omnigw.transport.delimited import DelimitedTcp

log = logging.getLogger("omnigw.camel.m3ua")


def over_tcp(upper: MessageProtocol) -> DelimitedTcp:
    """M3UA over TCP as RFC 4666 1.3.1 has it: messages delimited by their own length."""
    return DelimitedTcp(upper, frame_length, PPID)


class AspHandler(Protocol):
    """What the SCCP layer above does with the ASP's events."""

    def asp_active(self, link: AspLink) -> None: ...
    def asp_down(self, link: AspLink, reason: str) -> None: ...
    def asp_data(self, link: AspLink, data: ProtocolData) -> None: ...
    def asp_reachability(self, link: AspLink, point_codes: tuple[int, ...], up: bool) -> None: ...


class AspLink:
    def __init__(self, name: str, fsm: AspFsm, handler: AspHandler) -> None:
        self.name = name
        self._fsm = fsm
        self._handler = handler
        self._transport: MessageTransport | None = None
        self._timers = Timers(lambda timer: self._feed(TimerExpired(timer)))
        self.closed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.active = False

    # --- MessageProtocol -----------------------------------------------------------------

    def connection_made(self, transport: MessageTransport) -> None:
        self._transport = transport
        self._feed(Connected(transport.streams))

    def message_received(self, data: bytes, stream: int, ppid: int) -> None:
        try:
            msg = decode(data)
        except DecodeError as exc:
            self._feed(Malformed(exc))
            return
        self._feed(Received(msg, stream))

    def connection_lost(self, exc: Exception | None) -> None:
        self._timers.cancel_all()
        self.active = False
        reason = str(exc) if exc else "closed"
        if not self.closed.done():
            self.closed.set_result(reason)
        self._handler.asp_down(self, reason)

    def writable(self, writable: bool) -> None:
        pass  # SCCP above answers dialogues one message at a time

    # --- the user part -------------------------------------------------------------------

    def transfer(self, data: ProtocolData) -> None:
        """Send `data` to its DPC (dropped, and said, while the ASP is not active)."""
        self._feed(Transfer(data))

    def close(self, reason: str) -> None:
        if self._transport is not None and not self._transport.is_closing():
            log.warning("closing M3UA association", extra={"asp": self.name, "reason": reason})
            self._transport.close()

    # --- actions -------------------------------------------------------------------------

    def _feed(self, event: Event) -> None:
        for action in self._fsm.handle(event):
            self._execute(action)

    def _execute(self, action: Action) -> None:
        if isinstance(action, Send):
            if self._transport is not None and not self._transport.is_closing():
                self._transport.send(encode(action.msg), action.stream, PPID)
        elif isinstance(action, Deliver):
            self._handler.asp_data(self, action.data)
        elif isinstance(action, StartTimer):
            self._timers.start(action.name, action.seconds)
        elif isinstance(action, CancelTimer):
            self._timers.cancel(action.name)
        elif isinstance(action, Active):
            self.active = True
            log.info("M3UA ASP active", extra={"asp": self.name})
            self._handler.asp_active(self)
        elif isinstance(action, Reachability):
            self._handler.asp_reachability(self, action.point_codes, action.available)
        elif isinstance(action, Refused):
            ERRORS.inc(("m3ua" if action.ours else "m3ua_peer", action.cause))
            who = "omnigw refused" if action.ours else "the SGP refused"
            log.warning(f"M3UA: {who}", extra={"asp": self.name, "reason": action.reason})
        elif isinstance(action, Close):
            self.close(action.reason)
