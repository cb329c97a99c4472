"""IMSI / MSISDN -> the charging account of the service holding that SIM or number.

The charging edge asks on every session start, so the answer comes from memory:
the index is loaded at start, a service's entries are re-read whenever a job
touches it, the whole index when inventory templates change, and periodically
(other omnigw instances may share the store).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Select, select

from omnigw.config import CrmConfig
from omnigw.crm.models import InventoryItem, InventoryTemplate, Service
from omnigw.crm_bridge.metrics import LOOKUPS, SUBSCRIBERS
from omnigw.ocs.charge import OcsError, Outcome
from omnigw.store.engine import SessionFactory

log = logging.getLogger("omnigw.crm_bridge.subscribers")

E164, IMSI = 0, 1  # Subscription-Id-Type (RFC 4006 8.47)


@dataclass(frozen=True, slots=True)
class Subscriber:
    service_id: int
    account: str
    status: str


def _msisdn(text: str) -> str:
    return text.strip().removeprefix("+")


class SubscriberIndex:
    def __init__(self, cfg: CrmConfig, sessions: SessionFactory) -> None:
        self._cfg = cfg
        self._sessions = sessions
        self._imsi: dict[str, Subscriber] = {}
        self._msisdn: dict[str, Subscriber] = {}
        self._keys: dict[int, list[tuple[int, str]]] = {}  # service -> its (kind, id)
        self._task: asyncio.Task[None] | None = None
        self._reloads: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self.reload()
        self._task = asyncio.get_running_loop().create_task(self._periodic())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _periodic(self) -> None:
        while True:
            await asyncio.sleep(self._cfg.index_refresh_seconds)
            try:
                await self.reload()
            except Exception:
                log.exception("subscriber index reload failed; keeping the old one")

    def _query(self) -> Select[str, str, str, int, str, str]:
        return (
            select(InventoryItem.itemtext1, InventoryItem.itemtext2, InventoryTemplate.item,
                   Service.service_id, Service.service_uuid, Service.service_status)
            .join(InventoryTemplate,
                  InventoryTemplate.inventory_template_id == InventoryItem.inventory_template_id)
            .join(Service, Service.service_id == InventoryItem.service_id)
            .where(InventoryTemplate.item.in_({self._cfg.imsi.template,
                                               self._cfg.msisdn.template}))
        )  # fmt: skip

    def _add(self, text1: str, text2: str, template: str, sub: Subscriber) -> None:
        texts = {"itemtext1": text1, "itemtext2": text2}
        keys = self._keys.setdefault(sub.service_id, [])
        if template == self._cfg.imsi.template and texts[self._cfg.imsi.field]:
            key = texts[self._cfg.imsi.field].strip()
            self._imsi[key] = sub
            keys.append((IMSI, key))
        if template == self._cfg.msisdn.template and texts[self._cfg.msisdn.field]:
            key = _msisdn(texts[self._cfg.msisdn.field])
            self._msisdn[key] = sub
            keys.append((E164, key))

    async def reload(self) -> None:
        async with self._sessions() as session:
            rows = (await session.execute(self._query())).all()
        self._imsi, self._msisdn, self._keys = {}, {}, {}
        for text1, text2, template, service_id, account, status in rows:
            self._add(text1, text2, template, Subscriber(service_id, account, status))
        SUBSCRIBERS.set(len(self._imsi) + len(self._msisdn))

    async def refresh_service(self, service_id: int) -> None:
        """Re-read one service's identifiers (after a job allocated, released or suspended)."""
        async with self._sessions() as session:
            rows = (
                await session.execute(self._query().where(Service.service_id == service_id))
            ).all()
        for kind, key in self._keys.pop(service_id, []):
            table = self._imsi if kind == IMSI else self._msisdn
            if table.get(key) is not None and table[key].service_id == service_id:
                del table[key]
        for text1, text2, template, sid, account, status in rows:
            self._add(text1, text2, template, Subscriber(sid, account, status))
        SUBSCRIBERS.set(len(self._imsi) + len(self._msisdn))

    def changed(self, resource: str) -> None:
        """CRM write listener: a template rename or new field mapping needs a full reload."""
        if resource == "inventory_template":
            task = asyncio.get_running_loop().create_task(self.reload())
            self._reloads.add(task)
            task.add_done_callback(self._reloads.discard)

    def lookup(self, kind: int, data: str) -> Subscriber | None:
        if kind == IMSI:
            return self._imsi.get(data.strip())
        if kind == E164:
            return self._msisdn.get(_msisdn(data))
        return None

    def resolve(self, subscriptions: Sequence[tuple[int, str]]) -> str | None:
        """The account paying for the first identifier we know; a barred service is refused."""
        for kind, data in subscriptions:
            sub = self.lookup(kind, data)
            if sub is None:
                continue
            if sub.status != "active":
                LOOKUPS.labels("barred").inc()
                raise OcsError(
                    Outcome.ACCOUNT_DISABLED, f"service {sub.service_id} is {sub.status}"
                )
            LOOKUPS.labels("found").inc()
            return sub.account
        LOOKUPS.labels("unknown").inc()
        return None
