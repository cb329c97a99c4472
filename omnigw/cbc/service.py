"""The CBC as the daemon runs it: the store, the runtime view, the delivery engine, each
protocol's peers, and the alert service, wired together and reloaded at start.

After a restart the engine is rebuilt from the store: deliveries a peer confirmed are not
written again; unanswered ones are.
"""

from __future__ import annotations

import asyncio
import itertools

from sqlalchemy import func, select, update
from sqlalchemy.orm import selectinload

from omnigw.cbc.alerts import AlertService
from omnigw.cbc.cbsp.adapter import CbspSouthbound
from omnigw.cbc.cbsp.peers import CbspPeers
from omnigw.cbc.delivery import DeliveryState
from omnigw.cbc.engine import DeliveryEngine
from omnigw.cbc.models import Alert, Delivery, Message
from omnigw.cbc.runtime import AlertSpec, DeliveryRt, Runtime, Text, alert_rt, message_rt
from omnigw.cbc.sbcap.adapter import SbcapSouthbound
from omnigw.cbc.sbcap.peers import SbcapPeers
from omnigw.cbc.writer import DeliveryRow, StoreWriter
from omnigw.config import CbcConfig
from omnigw.store.engine import SessionFactory, url_of
from omnigw.store.process import StoreProcess

S = DeliveryState


class CbcService:
    def __init__(self, cfg: CbcConfig, sessions: SessionFactory) -> None:
        self.cfg = cfg
        self._sessions = sessions
        # Every CBC write goes through the helper process, in order (see store.process).
        self._store = StoreProcess(url_of(sessions), "omnigw.cbc.models")
        self._writer = StoreWriter(self._store)
        timers = {"cbsp": (cfg.cbsp.answer_timeout_seconds, cfg.cbsp.max_attempts),
                  "sbcap": (cfg.sbcap.answer_timeout_seconds, cfg.sbcap.max_attempts)}  # fmt: skip
        self._runtime = Runtime(cfg.peers, timers)
        cbsp = CbspSouthbound(self._runtime)
        sbcap = SbcapSouthbound(cfg.sbcap, self._runtime, self._writer)
        # The engine's clock is the loop's: deadlines and delivery latency both read it.
        self.engine = DeliveryEngine(
            self._runtime, self._writer, {"cbsp": cbsp, "sbcap": sbcap},
            clock=lambda: asyncio.get_running_loop().time(),
        )  # fmt: skip
        self.cbsp = CbspPeers(cfg.cbsp, self._runtime, self.engine, cbsp)
        self.sbcap = SbcapPeers(cfg.sbcap, self._runtime, self.engine, sbcap)
        self.alerts = AlertService(
            cfg, sessions, self._store, self._writer, self._runtime, self.engine
        )
        # The alert API, served by the alert service
        self.submit = self.alerts.submit
        self.supersede = self.alerts.supersede
        self.revise_texts = self.alerts.revise_texts
        self.cancel = self.alerts.cancel
        self.find_active = self.alerts.find_active
        self.query_status = self.alerts.query_status
        self.summary = self.alerts.summary
        self.get = self.alerts.get
        self.history = self.alerts.history
        self.list = self.alerts.list
        self.on_delivered = self.engine.on_delivered
        self.bound_port = self.cbsp.bound_port

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        await self._store.start()
        await self._load()
        self._writer.start()
        await self.cbsp.start()
        await self.sbcap.start()
        self.alerts.start()
        self.engine.start()

    async def _load(self) -> None:
        """Rebuild the engine from the store: what is live, what each peer holds."""
        async with self._sessions.begin() as s:
            # Answers to what was in flight when we stopped are lost: send again later.
            await s.execute(
                update(Delivery).where(Delivery.state == S.WRITING).values(state=S.PENDING)
            )
            await s.execute(
                update(Delivery).where(Delivery.state == S.KILLING).values(state=S.KILL_PENDING)
            )
            unfinished = select(Message.alert_id).join(Delivery).where(Delivery.state != S.KILLED)
            rows = await s.execute(
                select(Alert)
                .where((Alert.state == "active") | Alert.id.in_(unfinished))
                .options(selectinload(Alert.messages).selectinload(Message.deliveries))
            )
            for alert in rows.scalars():
                self._adopt(alert)
            last = await s.execute(
                select(Message.message_identifier, Message.message_code)
                .where(
                    Message.id.in_(
                        select(func.max(Message.id)).group_by(Message.message_identifier)
                    )
                )
            )  # fmt: skip
            self.alerts.composer.last_code = {ident: code for ident, code in last}
            counts = await s.execute(select(Alert.state, func.count()).group_by(Alert.state))
            self.alerts.counts = {state: count for state, count in counts}
            # We are the store's only writer of messages and deliveries: number them
            # ourselves, so a write never waits for ids to come back.
            last_id = (await s.execute(select(func.max(Delivery.id)))).scalar()
            self.engine.delivery_ids = itertools.count((last_id or 0) + 1)
            last_id = (await s.execute(select(func.max(Message.id)))).scalar()
            self.alerts.composer.message_ids = itertools.count((last_id or 0) + 1)
        self.engine.add_missing_deliveries()

    def _adopt(self, alert: Alert) -> None:
        rt = alert_rt(alert, self.engine.clock())
        for message in alert.messages:
            mrt = message_rt(message, rt)
            for delivery in message.deliveries:
                peer = self._runtime.peers.get(delivery.peer)
                if peer is None:
                    continue  # a peer removed from the config
                row = DeliveryRow(
                    id=delivery.id, state=S(delivery.state), attempts=delivery.attempts,
                    confirmed_serial=delivery.confirmed_serial, error=delivery.error,
                    confirmed_at=delivery.confirmed_at, report=delivery.report,
                    kill_report=delivery.kill_report, status_report=delivery.status_report,
                )  # fmt: skip
                self.engine.adopt(peer, DeliveryRt(row, peer.cfg.name, mrt))
        self._runtime.track(rt)

    @property
    def store_pid(self) -> int | None:
        """The store helper process (see store.process), for operators and benchmarks."""
        return self._store.pid

    async def flush(self) -> None:
        """Wait until everything recorded so far is in the store (for benchmarks)."""
        await self._writer.flush()

    async def stop(self) -> None:
        self.alerts.stop()
        self.engine.stop()
        await self.cbsp.stop()
        await self.sbcap.stop()
        await self._writer.stop()
        await self._store.stop()
        await self.cbsp.closed()

    def peer_status(self) -> dict[str, bool]:
        return {name: p.up for name, p in self._runtime.peers.items()}


__all__ = ["AlertSpec", "CbcService", "Text"]
