"""SBc-AP over a message transport: decodes what the MME sends into link-machine events,
executes the machine's actions, and keeps a client-mode association open.

Any transport of `omnigw.transport` carries it (kernel SCTP in production, TCP framing in
fast tests); requests go on the configured stream with PPID 24.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from omnigw.cbc.sbcap.codec import (
    PPID,
    DecodeError,
    Pdu,
    decode,
    encode,
    off_spec,
    peek_report,
)
from omnigw.cbc.sbcap.fsm import (
    Action,
    Connected,
    Deliver,
    DeliverAnswer,
    Event,
    LinkFsm,
    Malformed,
    Oddity,
    ProtocolError,
    Received,
    Send,
    Up,
)
from omnigw.transport.base import MessageTransport

log = logging.getLogger("omnigw.cbc.sbcap")


class LinkHandler(Protocol):
    """What the SBc-AP peers do with link events."""

    def link_up(self, link: SbcapLink) -> None: ...
    def link_down(self, link: SbcapLink, reason: str) -> None: ...
    def link_writable(self, link: SbcapLink, writable: bool) -> None: ...
    def link_answer(self, link: SbcapLink, action: DeliverAnswer) -> None: ...
    def link_pdu(self, link: SbcapLink, action: Deliver) -> None: ...
    def link_error(self, link: SbcapLink, cause: int, reason: str, answered: bool) -> None: ...
    def link_sent(self, link: SbcapLink, pdu: Pdu) -> None: ...


class SbcapLink:
    def __init__(self, peer: str, fsm: LinkFsm, handler: LinkHandler) -> None:
        self.peer = peer
        self._fsm = fsm
        self._handler = handler
        self._transport: MessageTransport | None = None
        self.closed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.up = False

    # --- MessageProtocol ---------------------------------------------------------------------

    def connection_made(self, transport: MessageTransport) -> None:
        self._transport = transport
        self._feed(Connected())

    def message_received(self, data: bytes, stream: int, ppid: int) -> None:
        at = asyncio.get_running_loop().time()
        try:
            # Indications, a thousand cells each, are only counted now (see codec.Report).
            report = peek_report(data)
            if report is not None:
                self._feed(Received(report, data, stream, ppid, at))
                return
            pdu = decode(data)
        except DecodeError as exc:
            self._feed(Malformed(exc, at))
            return
        self._feed(Received(pdu, data, stream, ppid, at, tuple(off_spec(pdu, data))))

    def connection_lost(self, exc: Exception | None) -> None:
        self.up = False
        reason = str(exc) if exc else "closed"
        if not self.closed.done():
            self.closed.set_result(reason)
        self._handler.link_down(self, reason)

    def writable(self, writable: bool) -> None:
        self._handler.link_writable(self, writable)

    # --- actions -----------------------------------------------------------------------------

    def send(self, pdu: Pdu, wire: bytes | None = None) -> None:
        """Send `pdu`; `wire` is its encoding when the caller already has it."""
        if self._transport is None or self._transport.is_closing():
            raise ConnectionError(f"association with {self.peer} is down")
        self._transport.send(wire if wire is not None else encode(pdu), self._fsm.stream, PPID)
        self._handler.link_sent(self, pdu)

    def close(self, reason: str) -> None:
        if self._transport is not None and not self._transport.is_closing():
            log.warning("closing SBc-AP association", extra={"peer": self.peer, "reason": reason})
            self._transport.close()

    def _feed(self, event: Event) -> None:
        for action in self._fsm.handle(event):
            self._execute(action)

    def _execute(self, action: Action) -> None:
        if isinstance(action, DeliverAnswer):
            self._handler.link_answer(self, action)
        elif isinstance(action, Deliver):
            self._handler.link_pdu(self, action)
        elif isinstance(action, Send):
            with contextlib.suppress(ConnectionError):
                self.send(action.pdu)
        elif isinstance(action, Up):
            self.up = True
            self._handler.link_up(self)
        elif isinstance(action, ProtocolError):
            self._handler.link_error(self, action.cause, action.reason, action.answered)
        elif isinstance(action, Oddity):
            log.warning("MME is off the spec; accepted", extra={"peer": self.peer,
                                                                "what": action.what})  # fmt: skip
