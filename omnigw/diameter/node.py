"""The Diameter node: listener, peer table, and dispatch of requests to applications.

Requests for an application we do not serve are answered with
DIAMETER_APPLICATION_UNSUPPORTED (3007) and the E bit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Mapping

from omnigw import eager
from omnigw.diameter.codec import Avp, Message
from omnigw.diameter.link import DiameterLink
from omnigw.diameter.metrics import COMMANDS, MESSAGES, PEERS_OPEN, REJECTED
from omnigw.diameter.peer import ERROR_MESSAGE, RESULT_CODE, Identity, PeerFsm, Policy

log = logging.getLogger("omnigw.diameter")

APPLICATION_UNSUPPORTED = 3007

# (application id) -> handler of one request, returning the answer
Application = Callable[[Message], Awaitable[Message]]


class DiameterNode:
    def __init__(
        self,
        identity: Identity,
        policy: Policy,
        host: str,
        port: int,
        applications: Mapping[int, Application] | None = None,
    ) -> None:
        self.identity = identity
        self.policy = policy
        self._host, self._port = host, port
        self._applications = dict(applications or {})
        self._server: asyncio.Server | None = None
        self.peers: dict[str, DiameterLink] = {}
        self._links: set[DiameterLink] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._labels: dict[tuple[int, bool, str], tuple[str, str, str]] = {}
        self._random = random.Random()  # noqa: S311  (watchdog jitter, not security)

    def _make_link(self) -> DiameterLink:
        fsm = PeerFsm(self.identity, self.policy, jitter=lambda: self._random.uniform(-2.0, 2.0))
        link = DiameterLink(fsm, self)
        self._links.add(link)
        return link

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._make_link, self._host, self._port)

    def bound_port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self, grace: float = 5.0) -> None:
        """Stop listening, send DPR to every peer, wait for them to go (up to `grace`)."""
        if self._server is not None:
            self._server.close()
        links = list(self._links)
        for link in links:
            link.shutdown()
        if links:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*(lk.closed for lk in links)), grace)
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            await self._server.wait_closed()

    # NodeHandler ------------------------------------------------------------------------

    def seen(self, link: DiameterLink, message: Message, direction: str) -> None:
        key = (message.command, message.is_request, direction)
        labels = self._labels.get(key)
        if labels is None:
            name = COMMANDS.get(message.command, "other")
            kind = "request" if message.is_request else "answer"
            labels = self._labels[key] = (name, kind, direction)
        MESSAGES.inc(labels)

    def peer_opened(self, link: DiameterLink, host: str, realm: str) -> None:
        old = self.peers.get(host)
        if old is not None and old is not link:
            old.shutdown()  # election (RFC 6733 5.6.4): the newer connection wins here
        self.peers[host] = link
        PEERS_OPEN.set(len(self.peers))
        log.info("Diameter peer open", extra={"peer": host, "realm": realm})

    def peer_rejected(self, link: DiameterLink, host: str, result_code: int) -> None:
        REJECTED.labels(str(result_code)).inc()
        log.warning("Diameter peer refused", extra={"peer": host, "result_code": result_code})

    def peer_closed(self, link: DiameterLink, reason: str) -> None:
        self._links.discard(link)
        host = link.fsm.host
        if host and self.peers.get(host) is link:
            del self.peers[host]
            PEERS_OPEN.set(len(self.peers))
            log.info("Diameter peer closed", extra={"peer": host, "reason": reason})

    def request(self, link: DiameterLink, message: Message) -> None:
        if not message.is_request:
            return  # answers to requests we never send are dropped
        application = self._applications.get(message.app_id)
        if application is None:
            link.send(self._error(message, APPLICATION_UNSUPPORTED, "application not served"))
            return
        try:
            task = eager.start(_serve(link, application, message))
        except Exception:  # the application's bug must not take the link down
            log.exception("Diameter request failed", extra={"command": message.command})
            return
        if task is not None:  # it waits (for CGRateS, say): carried on by a task
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _error(self, request: Message, code: int, text: str) -> Message:
        return request.answer(
            [
                Avp.of_u32(RESULT_CODE, code),
                Avp.of_text(264, self.identity.host),
                Avp.of_text(296, self.identity.realm),
                Avp.of_text(ERROR_MESSAGE, text, mandatory=False),
            ],
            error=True,
        )


async def _serve(link: DiameterLink, application: Application, request: Message) -> None:
    link.send(await application(request))
