"""Provisioning jobs: run a play step by step, record each step, roll back on failure.

A job and its steps are stored as they happen. If a critical step fails, the
steps already done are undone in reverse order (each undo is recorded as a step
too) and the job ends failed: no half-made service, no held inventory, no stray
account. A job the daemon was running when it died is rolled back at start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from sqlalchemy import select, update

from omnigw.crm.models import Customer, Product, ProvisioningJob, ProvisioningStep, Service, Site
from omnigw.crm.schemas import ProvisionIn
from omnigw.crm.service import row_dict
from omnigw.crm_bridge.metrics import JOB_STEPS, JOBS
from omnigw.crm_bridge.plays import LIFECYCLE, Plays
from omnigw.crm_bridge.steps import Job, Step, StepFailed, Tools, set_status
from omnigw.errors import Conflict, Invalid, NotFound
from omnigw.store.base import utcnow

log = logging.getLogger("omnigw.crm_bridge")

OK, RUNNING, FAILED, IGNORED = 0, 1, 2, 3
LIFECYCLE_FROM = {"suspend": {"active"}, "resume": {"suspended"},
                  "deprovision": {"active", "suspended"}}  # fmt: skip


class Provisioner:
    def __init__(
        self,
        tools: Tools,
        plays: Plays,
        on_service_change: Callable[[int], Awaitable[None]] | None = None,
    ) -> None:
        self._tools = tools
        self._sessions = tools.sessions
        self._plays = plays
        self._on_change = on_service_change
        self._tasks: set[asyncio.Task[None]] = set()
        self._locks: dict[int, asyncio.Lock] = {}

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Roll back what jobs interrupted by a stop or crash had done."""
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(ProvisioningJob).where(ProvisioningJob.status == RUNNING)
                )
            ).scalars()
            interrupted = [row_dict(r) for r in rows]
        for row in interrupted:
            job = await self._job_of(row)
            steps = self._plays.steps(row["play"]) or []
            async with self._sessions() as session:
                done = [
                    s.position
                    for s in (
                        await session.execute(
                            select(ProvisioningStep).where(
                                ProvisioningStep.provision_id == job.provision_id,
                                ProvisioningStep.status == OK,
                                ~ProvisioningStep.name.startswith("undo "),
                            )
                        )
                    ).scalars()
                ]
            await self._close_running_steps(job.provision_id)
            await self._rollback(job, [steps[p] for p in sorted(done) if p < len(steps)])
            await self._finish(job, FAILED, "interrupted by a daemon restart; rolled back")
            log.warning("interrupted provisioning job rolled back",
                        extra={"provision_id": job.provision_id})  # fmt: skip

    async def stop(self, grace: float) -> None:
        """Let running jobs finish (a job stopped halfway is rolled back at next start)."""
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=grace)

    # --- requests ----------------------------------------------------------------------------

    async def provision(self, actor: str, request: ProvisionIn) -> dict[str, Any]:
        async with self._sessions() as session:
            product = await session.get(Product, request.product_id)
            if product is None:
                raise Invalid(f"product_id: no product {request.product_id}")
            if not product.enabled:
                raise Invalid(f"product_id: product {product.product_slug} is not enabled")
            customer = await session.get(Customer, request.customer_id)
            if customer is None:
                raise Invalid(f"customer_id: no customer {request.customer_id}")
            if customer.customer_status != "active":
                raise Conflict(f"customer {customer.customer_id} is {customer.customer_status}")
            if request.site_id is not None:
                site = await session.get(Site, request.site_id)
                if site is None or site.customer_id != customer.customer_id:
                    raise Invalid(f"site_id: customer {customer.customer_id} has no site "
                                  f"{request.site_id}")  # fmt: skip
            product_row = row_dict(product)
        if product.category == "addon" and request.service_id is None:
            raise Invalid("service_id: an addon applies to an existing service; name it")
        if product.category != "addon" and request.service_id is not None:
            raise Invalid(f"service_id: a {product.category} product makes its own service")
        steps = self._plays.steps(product.provisioning_play)
        if steps is None:
            raise Invalid(
                f"provisioning_play: product {product.product_slug} names play "
                f"{product.provisioning_play!r}, which is not defined "
                f"(defined: {', '.join(self._plays.names())})"
            )
        job = Job(0, "provision", actor, request.customer_id, product_row, request.service_id,
                  request.site_id, request.service_name, list(request.inventory_ids))  # fmt: skip
        return await self._launch(job, product.provisioning_play, steps, request.wait)

    async def lifecycle(self, actor: str, service_id: int, operation: str) -> dict[str, Any]:
        """Suspend, resume or deprovision a service; answers when the job is done."""
        async with self._sessions() as session:
            service = await session.get(Service, service_id)
            if service is None:
                raise NotFound(f"no service {service_id}")
            if service.service_status not in LIFECYCLE_FROM[operation]:
                raise Conflict(f"service {service_id} is {service.service_status}; "
                               f"cannot {operation} it")  # fmt: skip
            product = row_dict(await session.get_one(Product, service.product_id))
        play = LIFECYCLE[operation]
        steps = self._plays.steps(play)
        assert steps is not None
        job = Job(0, operation, actor, service.customer_id, product, service_id)
        return await self._launch(job, play, steps, wait=True)

    async def _launch(self, job: Job, play: str, steps: list[Step], wait: bool) -> dict[str, Any]:
        async with self._sessions.begin() as session:
            row = ProvisioningJob(
                play=play, operation=job.operation, status=RUNNING, customer_id=job.customer_id,
                product_id=(job.product or {}).get("product_id"), service_id=job.service_id,
                requested_by=job.actor, context={},
            )  # fmt: skip
            session.add(row)
            await session.flush()
            job.provision_id = row.provision_id
        task = asyncio.get_running_loop().create_task(self._guarded(job, steps))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if wait:
            await asyncio.shield(task)
        return await self.get(job.provision_id)

    # --- running -----------------------------------------------------------------------------

    def _lock(self, job: Job) -> asyncio.Lock | contextlib.nullcontext[None]:
        if job.service_id is None:
            return contextlib.nullcontext()
        return self._locks.setdefault(job.service_id, asyncio.Lock())

    async def _guarded(self, job: Job, steps: list[Step]) -> None:
        try:
            async with self._lock(job):
                await self._run(job, steps)
        except Exception:
            log.exception("provisioning job crashed", extra={"provision_id": job.provision_id})
            raise
        finally:
            if job.service_id is not None and self._on_change is not None:
                await self._on_change(job.service_id)

    async def _run(self, job: Job, steps: list[Step]) -> None:
        done: list[Step] = []
        for position, step in enumerate(steps):
            step_id = await self._step_started(job, position, step.name)
            try:
                output = await step.run(job, self._tools)
            except StepFailed as exc:
                failure = str(exc)
            except Exception as exc:
                log.exception("provisioning step crashed", extra={"step": step.name})
                failure = f"internal error in {step.name}: {exc!r}"
            else:
                await self._step_finished(job, step_id, step.name, OK, output)
                done.append(step)
                continue
            if step.ignore_errors:
                await self._step_finished(job, step_id, step.name, IGNORED, failure)
                continue
            await self._step_finished(job, step_id, step.name, FAILED, failure)
            await self._rollback(job, done)
            await self._finish(job, FAILED, f"{step.name}: {failure}")
            return
        if "service_id" in job.made:  # made by this play: it is live now
            await set_status(self._tools, job, "active")
        await self._finish(job, OK, None)

    async def _rollback(self, job: Job, done: list[Step]) -> None:
        for step in reversed(done):
            step_id = await self._step_started(job, 1000 + len(done), f"undo {step.name}")
            try:
                output = await step.undo(job, self._tools)
            except Exception as exc:
                # Keep undoing the rest; the operator reads which undo failed.
                log.exception("rollback step failed", extra={"step": step.name})
                await self._step_finished(job, step_id, f"undo {step.name}", FAILED, repr(exc))
            else:
                await self._step_finished(job, step_id, f"undo {step.name}", OK, output)

    # --- records -----------------------------------------------------------------------------

    async def _step_started(self, job: Job, position: int, name: str) -> int:
        async with self._sessions.begin() as session:
            row = ProvisioningStep(provision_id=job.provision_id, position=position, name=name,
                                   status=RUNNING, output="")  # fmt: skip
            session.add(row)
            await session.flush()
            return row.step_id

    async def _step_finished(
        self, job: Job, step_id: int, name: str, status: int, output: str
    ) -> None:
        """The step's result and what the job has made so far, in one transaction."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(ProvisioningStep).where(ProvisioningStep.step_id == step_id)
                .values(status=status, output=output, finished=utcnow())
            )  # fmt: skip
            await session.execute(
                update(ProvisioningJob).where(ProvisioningJob.provision_id == job.provision_id)
                .values(context=dict(job.made), service_id=job.service_id)
            )  # fmt: skip
        JOB_STEPS.labels(name.removeprefix("undo ").split(" ")[0], str(status)).inc()

    async def _close_running_steps(self, provision_id: int) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(ProvisioningStep)
                .where(ProvisioningStep.provision_id == provision_id,
                       ProvisioningStep.status == RUNNING)
                .values(status=FAILED, output="interrupted by a daemon restart",
                        finished=utcnow())
            )  # fmt: skip

    async def _finish(self, job: Job, status: int, error: str | None) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(ProvisioningJob).where(ProvisioningJob.provision_id == job.provision_id)
                .values(status=status, error=error, finished=utcnow(), context=dict(job.made))
            )  # fmt: skip
        JOBS.labels(job.operation, "ok" if status == OK else "failed").inc()
        log.info(
            "provisioning job finished",
            extra={"provision_id": job.provision_id, "operation": job.operation,
                   "status": status, "error": error},
        )  # fmt: skip

    async def _job_of(self, row: dict[str, Any]) -> Job:
        async with self._sessions() as session:
            product = await session.get(Product, row["product_id"]) if row["product_id"] else None
        made = dict(row["context"] or {})
        return Job(
            row["provision_id"], row["operation"], row["requested_by"], row["customer_id"],
            row_dict(product) if product else None, row["service_id"], made=made,
        )  # fmt: skip

    async def get(self, provision_id: int) -> dict[str, Any]:
        async with self._sessions() as session:
            job = await session.get(ProvisioningJob, provision_id)
            if job is None:
                raise NotFound(f"no provisioning job {provision_id}")
            steps = (
                await session.execute(
                    select(ProvisioningStep)
                    .where(ProvisioningStep.provision_id == provision_id)
                    .order_by(ProvisioningStep.step_id)
                )
            ).scalars()
            return {**row_dict(job), "steps": [row_dict(s) for s in steps]}

    async def find(self, query: Mapping[str, str]) -> list[dict[str, Any]]:
        stmt = select(ProvisioningJob).order_by(ProvisioningJob.provision_id.desc())
        for name in ("customer_id", "service_id", "status"):
            if name in query:
                if not query[name].isdigit():
                    raise Invalid(f"{name}: expected an integer, got {query[name]!r}")
                stmt = stmt.where(getattr(ProvisioningJob, name) == int(query[name]))
        async with self._sessions() as session:
            rows = (await session.execute(stmt.limit(1000))).scalars()
            return [row_dict(r) for r in rows]
