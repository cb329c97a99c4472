"""The steps plays are made of: each does one thing and knows how to undo it.

A step writes what it made into `job.made` (persisted after every step), so the
rollback, and the recovery of a job interrupted by a restart, can undo exactly
that and nothing else.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from omnigw.config import AnsibleStep, WebhookStep
from omnigw.crm.models import InventoryItem, InventoryTemplate, Product, Service
from omnigw.crm.schemas import comma_list, python_list
from omnigw.crm.service import log_activity, row_dict
from omnigw.ocs.accounts import AccountError, Accounts
from omnigw.store.base import utcnow
from omnigw.store.engine import SessionFactory


class StepFailed(Exception):
    """The step could not do its job; the message is what the operator reads."""


@dataclass
class Job:
    provision_id: int
    operation: str
    actor: str
    customer_id: int | None
    product: dict[str, Any] | None
    service_id: int | None = None
    site_id: int | None = None
    service_name: str | None = None
    chosen: list[int] = field(default_factory=list)
    made: dict[str, Any] = field(default_factory=dict)

    @property
    def variables(self) -> dict[str, Any]:
        """The product's provisioning_json_vars, as OmniCRM hands them to a play."""
        text = (self.product or {}).get("provisioning_json_vars") or ""
        parsed: dict[str, Any] = json.loads(text) if text.strip() else {}
        return parsed


@dataclass
class Tools:
    sessions: SessionFactory
    accounts: Accounts
    ansible_vars: dict[str, Any]  # crm_config as OmniCRM's playbooks expect it


class Step(Protocol):
    name: str
    ignore_errors: bool

    async def run(self, job: Job, tools: Tools) -> str: ...

    async def undo(self, job: Job, tools: Tools) -> str: ...


async def _service(session: AsyncSession, job: Job) -> Service:
    if job.service_id is None:
        raise StepFailed("no service: an earlier step must create or name one")
    row = await session.get(Service, job.service_id)
    if row is None:
        raise StepFailed(f"service {job.service_id} does not exist")
    return row


async def _account_of(tools: Tools, job: Job) -> str:
    async with tools.sessions() as session:
        return (await _service(session, job)).service_uuid


async def set_status(tools: Tools, job: Job, status: str, end: bool = False) -> str:
    """Set the service's status; returns the one it had."""
    async with tools.sessions.begin() as session:
        row = await _service(session, job)
        before = row_dict(row)
        row.service_status = status
        if end:
            row.service_end_date = utcnow()
        row.last_modified = utcnow()
        await session.flush()
        log_activity(session, job.actor, "service", row.service_id, "update", before,
                           row_dict(row))  # fmt: skip
        return str(before["service_status"])


class CreateService:
    name = "create_service"
    ignore_errors = False

    async def run(self, job: Job, tools: Tools) -> str:
        assert job.product is not None and job.customer_id is not None
        async with tools.sessions.begin() as session:
            row = Service(
                service_uuid=str(uuid.uuid4()),
                service_name=job.service_name or job.product["product_name"],
                service_type=job.product["service_type"],
                service_status="inactive",  # active once the whole play succeeded
                customer_id=job.customer_id,
                site_id=job.site_id,
                product_id=job.product["product_id"],
                service_start_date=utcnow(),
            )
            session.add(row)
            await session.flush()
            log_activity(session, job.actor, "service", row.service_id, "create", None,
                               row_dict(row))  # fmt: skip
        job.service_id = job.made["service_id"] = row.service_id
        return f"service {row.service_id} created, account {row.service_uuid}"

    async def undo(self, job: Job, tools: Tools) -> str:
        service_id = job.made.get("service_id")
        async with tools.sessions.begin() as session:
            row = await session.get(Service, service_id)
            if row is None:
                return "service already gone"
            before = row_dict(row)
            await session.delete(row)
            log_activity(session, job.actor, "service", before["service_id"], "delete",
                               before, None)  # fmt: skip
        return f"service {service_id} removed"


class AllocateInventory:
    """One available item of each template the product lists (a chosen one if given)."""

    name = "allocate_inventory"
    ignore_errors = False

    async def run(self, job: Job, tools: Tools) -> str:
        assert job.product is not None
        wanted = python_list(job.product["inventory_items_list"])
        allocated: list[str] = []
        taken: list[int] = []  # one transaction: a failure part-way allocates nothing
        async with tools.sessions.begin() as session:
            service = await _service(session, job)
            templates = {
                t.item: t.inventory_template_id
                for t in (
                    await session.execute(
                        select(InventoryTemplate).where(InventoryTemplate.item.in_(wanted))
                    )
                ).scalars()
            }
            chosen = {
                i.inventory_id: i
                for i in (
                    await session.execute(
                        select(InventoryItem).where(InventoryItem.inventory_id.in_(job.chosen))
                    )
                ).scalars()
            }
            for missing in set(job.chosen) - set(chosen):
                raise StepFailed(f"inventory item {missing} does not exist")
            for item in chosen.values():
                if item.inventory_template_id not in templates.values():
                    raise StepFailed(
                        f"inventory item {item.inventory_id} is not of a template the product "
                        f"needs ({', '.join(wanted) or 'none'})"
                    )
            for name in wanted:
                template_id = templates.get(name)
                if template_id is None:
                    raise StepFailed(f"inventory template {name!r} does not exist")
                picks = [i for i in chosen.values() if i.inventory_template_id == template_id]
                item_id = picks[0].inventory_id if picks else None
                item_id = await self._take(session, template_id, item_id, service)
                if item_id is None:
                    which = f"item {picks[0].inventory_id}" if picks else f"{name!r} item"
                    raise StepFailed(f"no available {which} in inventory")
                taken.append(item_id)
                allocated.append(f"{name} #{item_id}")
        job.made["allocated"] = taken
        return "allocated " + (", ".join(allocated) or "nothing (the product lists no items)")

    @staticmethod
    async def _take(
        session: AsyncSession, template_id: int, item_id: int | None, service: Service
    ) -> int | None:
        """Claim the item only if it is still available; a concurrent job may win a race for
        the first free one, and then the next free one is tried."""
        chosen = item_id is not None
        after = 0
        while True:
            if not chosen:
                item_id = await session.scalar(
                    select(InventoryItem.inventory_id)
                    .where(InventoryItem.inventory_template_id == template_id,
                           InventoryItem.item_status == "available",
                           InventoryItem.inventory_id > after)
                    .order_by(InventoryItem.inventory_id)
                    .limit(1)
                )  # fmt: skip
                if item_id is None:
                    return None
            result = await session.execute(
                update(InventoryItem)
                .where(
                    InventoryItem.inventory_id == item_id, InventoryItem.item_status == "available"
                )
                .values(**_held_by(service))
            )
            if result.rowcount == 1:  # type: ignore[attr-defined]
                return item_id
            if chosen:
                return None
            assert item_id is not None
            after = item_id

    async def undo(self, job: Job, tools: Tools) -> str:
        ids = job.made.get("allocated", [])
        await _release(tools, ids, job.service_id)
        return f"released inventory {ids}" if ids else "nothing was allocated"


def _held_by(service: Service) -> dict[str, Any]:
    return {"item_status": "allocated", "service_id": service.service_id,
            "customer_id": service.customer_id, "last_modified": utcnow()}  # fmt: skip


async def _release(tools: Tools, ids: list[int], service_id: int | None) -> None:
    async with tools.sessions.begin() as session:
        await session.execute(
            update(InventoryItem)
            .where(InventoryItem.inventory_id.in_(ids), InventoryItem.service_id == service_id)
            .values(item_status="available", service_id=None, customer_id=None,
                    last_modified=utcnow())
        )  # fmt: skip


class CreateAccount:
    name = "create_account"
    ignore_errors = False

    async def run(self, job: Job, tools: Tools) -> str:
        account = await _account_of(tools, job)
        created = await _account_call(tools.accounts.create(account))
        job.made["account_created"] = account if created else None
        return f"account {account} " + ("created" if created else "already existed; left as is")

    async def undo(self, job: Job, tools: Tools) -> str:
        account = job.made.get("account_created")
        if not account:
            return "account was not made by this job; left as is"
        await _account_call(tools.accounts.remove(account))
        return f"account {account} removed"


class ExecuteAction:
    """OmniCRM's convention: the product's balances come from `Action_<product_slug>`."""

    name = "execute_action"
    ignore_errors = False

    async def run(self, job: Job, tools: Tools) -> str:
        assert job.product is not None
        account = await _account_of(tools, job)
        action = f"Action_{job.product['product_slug']}"
        await _account_call(tools.accounts.execute_action(account, action))
        job.made["action"] = action
        return f"{action} executed on {account}"

    async def undo(self, job: Job, tools: Tools) -> str:
        if job.made.get("account_created"):
            return "the balances went with the account"
        return f"{job.made.get('action')} cannot be taken back; its balances stay on the account"


class RequireService:
    """An addon applies to an existing, active service of the same customer."""

    name = "require_service"
    ignore_errors = False

    async def run(self, job: Job, tools: Tools) -> str:
        assert job.product is not None
        async with tools.sessions() as session:
            service = await _service(session, job)
            if service.customer_id != job.customer_id:
                raise StepFailed(f"service {service.service_id} is not customer "
                                 f"{job.customer_id}'s")  # fmt: skip
            if service.service_status != "active":
                raise StepFailed(f"service {service.service_id} is {service.service_status}")
            relies = comma_list(job.product["relies_on_list"])
            slug = await session.scalar(
                select(Product.product_slug).where(Product.product_id == service.product_id)
            )
        if relies and slug not in relies:
            raise StepFailed(
                f"{job.product['product_slug']} needs a service of {', '.join(relies)}; "
                f"service {job.service_id} is {slug}"
            )
        return f"service {service.service_id} ({slug}) is active"

    async def undo(self, job: Job, tools: Tools) -> str:
        return "nothing to undo"


class SetAccountEnabled:
    def __init__(self, enable: bool) -> None:
        self.enable = enable
        self.name = "resume_account" if enable else "suspend_account"
        self.ignore_errors = False

    async def _apply(self, job: Job, tools: Tools, enable: bool) -> str:
        account = await _account_of(tools, job)
        await _account_call(tools.accounts.set_disabled(account, not enable))
        status = "active" if enable else "suspended"
        previous = await set_status(tools, job, status)
        job.made.setdefault("status_before", previous)
        return f"account {account} {'enabled' if enable else 'disabled'}, service {status}"

    async def run(self, job: Job, tools: Tools) -> str:
        return await self._apply(job, tools, self.enable)

    async def undo(self, job: Job, tools: Tools) -> str:
        return await self._apply(job, tools, not self.enable)


class ReleaseInventory:
    name = "release_inventory"
    ignore_errors = False

    async def run(self, job: Job, tools: Tools) -> str:
        async with tools.sessions() as session:
            ids = list(
                (
                    await session.execute(
                        select(InventoryItem.inventory_id).where(
                            InventoryItem.service_id == job.service_id
                        )
                    )
                ).scalars()
            )
        job.made["released"] = ids
        await _release(tools, ids, job.service_id)
        return f"released inventory {ids}"

    async def undo(self, job: Job, tools: Tools) -> str:
        ids = job.made.get("released", [])
        async with tools.sessions.begin() as session:
            service = await _service(session, job)
            await session.execute(
                update(InventoryItem)
                .where(InventoryItem.inventory_id.in_(ids),
                       InventoryItem.item_status == "available")
                .values(**_held_by(service))
            )  # fmt: skip
        return f"re-allocated inventory {ids}"


class RemoveAccount:
    name = "remove_account"
    ignore_errors = False

    async def run(self, job: Job, tools: Tools) -> str:
        account = await _account_of(tools, job)
        await _account_call(tools.accounts.remove(account))
        job.made["removed_account"] = account
        return f"account {account} removed"

    async def undo(self, job: Job, tools: Tools) -> str:
        account = job.made["removed_account"]
        await _account_call(tools.accounts.create(account))
        return f"account {account} made again (its balances are not restored)"


class EndService:
    name = "end_service"
    ignore_errors = False

    async def run(self, job: Job, tools: Tools) -> str:
        job.made["status_before"] = await set_status(tools, job, "inactive", end=True)
        return f"service {job.service_id} inactive"

    async def undo(self, job: Job, tools: Tools) -> str:
        await set_status(tools, job, job.made.get("status_before", "active"))
        return f"service {job.service_id} back to {job.made.get('status_before')}"


async def _account_call(call: Any) -> Any:
    try:
        return await call
    except AccountError as exc:
        raise StepFailed(str(exc)) from None


async def job_variables(job: Job, tools: Tools) -> dict[str, Any]:
    """What OmniCRM hands a play: product, its vars, customer, service, inventory."""
    async with tools.sessions() as session:
        service = await session.get(Service, job.service_id) if job.service_id else None
        items = []
        if service is not None:
            items = [
                row_dict(i)
                for i in (
                    await session.execute(
                        select(InventoryItem).where(InventoryItem.service_id == service.service_id)
                    )
                ).scalars()
            ]
    return {
        "provision_id": job.provision_id,
        "operation": job.operation,
        "product": job.product,
        "product_id": (job.product or {}).get("product_id"),
        **job.variables,
        "customer_id": job.customer_id,
        "service_id": job.service_id,
        "service_uuid": service.service_uuid if service else None,
        "service": row_dict(service) if service else None,
        "inventory": items,
    }


class Webhook:
    name = "webhook"

    def __init__(self, spec: WebhookStep) -> None:
        self.spec = spec
        self.ignore_errors = spec.ignore_errors

    async def _post(self, url: str, job: Job, tools: Tools) -> str:
        payload = await job_variables(job, tools)
        try:
            async with httpx.AsyncClient(timeout=self.spec.timeout_seconds) as client:
                response = await client.post(url, json=payload)
        except httpx.HTTPError as exc:
            raise StepFailed(f"webhook {url}: {exc!r}") from None
        if not response.is_success:
            raise StepFailed(f"webhook {url} answered HTTP {response.status_code}")
        return f"webhook {url}: HTTP {response.status_code}"

    async def run(self, job: Job, tools: Tools) -> str:
        return await self._post(self.spec.webhook, job, tools)

    async def undo(self, job: Job, tools: Tools) -> str:
        if self.spec.undo_webhook is None:
            return "no undo webhook configured"
        return await self._post(self.spec.undo_webhook, job, tools)


def _ansible_playbook() -> str:
    """The one installed beside omnigw (the `ansible` extra) before any on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    return beside if os.path.exists(beside) else "ansible-playbook"


class AnsiblePlaybook:
    """A real playbook, as OmniCRM runs them; it rolls itself back with `rescue`."""

    name = "ansible"
    TAIL = 4000

    def __init__(self, spec: AnsibleStep) -> None:
        self.spec = spec
        self.ignore_errors = spec.ignore_errors

    async def run(self, job: Job, tools: Tools) -> str:
        variables = {**await job_variables(job, tools), **tools.ansible_vars}
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
            json.dump(variables, handle, default=str)
        try:
            proc = await asyncio.create_subprocess_exec(
                _ansible_playbook(), "-i", "localhost,", "-c", "local",
                "-e", f"@{handle.name}", str(self.spec.ansible),
                # Local modules run under omnigw's own Python, not whatever discovery finds.
                "-e", f"ansible_python_interpreter={sys.executable}",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
                env={**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_RETRY_FILES_ENABLED": "0"},
            )  # fmt: skip
        except FileNotFoundError:
            raise StepFailed("ansible-playbook not found: install omnigw[ansible]") from None
        try:
            try:
                out, _ = await asyncio.wait_for(proc.communicate(), self.spec.timeout_seconds)
            except TimeoutError:
                proc.kill()
                await proc.wait()
                raise StepFailed(f"playbook ran over {self.spec.timeout_seconds} s") from None
        finally:
            os.unlink(handle.name)
        text = out.decode(errors="replace")[-self.TAIL :]
        if proc.returncode != 0:
            raise StepFailed(
                f"playbook {self.spec.ansible} failed (exit {proc.returncode}):\n{text}"
            )
        return text

    async def undo(self, job: Job, tools: Tools) -> str:
        return "a playbook undoes itself in its rescue block"
