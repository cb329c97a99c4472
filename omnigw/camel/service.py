"""The gsmSCF service: M3UA links to the STPs, SCCP and TCAP on top, a gsmSCF machine per
dialogue, charges in the OCS.

A message goes up: M3UA DATA -> SCCP unitdata for our SSN (146) -> the TCAP dialogue it
belongs to -> that dialogue's machine; its actions come back down the same way, to the
point code and SCCP address the dialogue's messages come from, on the link they came in
on (or any active one); a message too long for one unitdata goes, and comes, as XUDT
segments. The OCS is asked in order per dialogue (a report never overtakes
the reservation before it); its answers go back into the machine. SCCP unitdata for
another SSN is returned (UDTS "unequipped user") when the sender asked for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from omnigw import eager
from omnigw.camel.cap.codec import Op, Service
from omnigw.camel.gsmscf import (
    Abort,
    Action,
    Answer,
    Ask,
    CallMachine,
    Causes,
    Charged,
    Finished,
    Lost,
    Machine,
    Policy,
    Received,
    SmsMachine,
    Step,
)
from omnigw.camel.m3ua.codec import SI_SCCP, ProtocolData, TrafficMode
from omnigw.camel.m3ua.fsm import AspFsm
from omnigw.camel.m3ua.link import AspLink, over_tcp
from omnigw.camel.metrics import (
    ACTIVE,
    ASP_ACTIVE,
    DIALOGUES,
    ERRORS,
    FIRST_ANSWER,
    OPERATIONS,
    RELEASES,
)
from omnigw.camel.parties import Resolver
from omnigw.camel.sccp import codec as sccp
from omnigw.camel.sccp.codec import CAP_SSN, Address, GlobalTitle, ReturnCause, Unitdata
from omnigw.camel.sccp.segments import SEGMENT_DATA, Reassembly, split
from omnigw.camel.tcap import codec as tcap
from omnigw.camel.tcap.dialogues import (
    Aborted,
    Dialogue,
    Dialogues,
    Ended,
    Opened,
    Refused,
)
from omnigw.config import CamelConfig, ReleaseCauses, SigtranLink
from omnigw.ocs.charge import Charge, Grant, Ocs, OcsError, Outcome, Unit
from omnigw.reconnect import Reconnectors
from omnigw.transport.open import connect

log = logging.getLogger("omnigw.camel")

SERVICE_NAMES = {Service.CALL: "call", Service.SMS: "sms"}
OP_NAMES = {op.value: op.name.lower() for op in Op}


@dataclass(frozen=True, slots=True)
class Route:
    """Where a dialogue's messages come from, so its answers go back the same way."""

    link: AspLink
    point_code: int
    ni: int
    sls: int


@dataclass(slots=True)
class Call:
    """A dialogue's state beside its machine: its route, its charge, its OCS queue."""

    machine: Machine
    route: Route
    key: str
    opened: float
    service: str
    replied: bool = False  # our first answer has gone (its latency observed)
    answered: datetime | None = None  # when the call was answered
    requests: int = 0
    finished: bool = False
    pending: asyncio.Task[None] | None = field(default=None, repr=False)


def causes(cfg: ReleaseCauses) -> Causes:
    return Causes(cfg.no_credit, cfg.unknown_subscriber, cfg.failure)


class CamelService:
    def __init__(self, cfg: CamelConfig, ocs: Ocs, resolve: Resolver) -> None:
        self.cfg = cfg
        self._ocs = ocs
        self._resolve = resolve
        self.dialogues = Dialogues(cfg.max_dialogues, cfg.idle_seconds)
        self._policy = Policy(cfg.country_code, causes(cfg.call_causes), causes(cfg.sms_causes),
                              cfg.period_seconds, frozenset(cfg.service_keys))  # fmt: skip
        gt = GlobalTitle(cfg.global_title) if cfg.global_title else None
        self.address = Address(CAP_SSN, cfg.point_code, gt, route_on_ssn=gt is None)
        self.links: dict[str, AspLink] = {}
        self._reconnectors = Reconnectors()
        self._boot = f"{int(time.time()):x}"  # call keys stay unique across restarts
        self._sweeper: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._segments = Reassembly()
        self._active = {name: ACTIVE.labels(name) for name in SERVICE_NAMES.values()}
        self._reference = 0  # of the segmented messages we send

    # --- life ----------------------------------------------------------------------------

    async def start(self) -> None:
        for link in self.cfg.links:
            ASP_ACTIVE.labels(link.name).set(0)
            self._reconnectors.start(
                "M3UA connect", {"link": link.name, "port": link.port},
                functools.partial(self._connect, link), ceiling=link.reconnect_max_seconds,
            )  # fmt: skip
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def _connect(self, cfg: SigtranLink) -> asyncio.Future[str]:
        mode = TrafficMode.OVERRIDE if cfg.traffic_mode == "override" else TrafficMode.LOADSHARE
        fsm = AspFsm(cfg.routing_context, mode, heartbeat=cfg.heartbeat_seconds)
        link = AspLink(cfg.name, fsm, self)
        await connect(cfg.transport, [str(a) for a in cfg.addresses], cfg.port,
                      [str(a) for a in cfg.local_addresses], link, cfg.local_port,
                      tcp=over_tcp)  # fmt: skip
        self.links[cfg.name] = link
        return link.closed

    async def stop(self) -> None:
        """Stop taking dialogues; the open ones end here with what was reported."""
        await self._reconnectors.stop()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        for dialogue in self.dialogues.expired(float("inf")):
            self._feed(dialogue, Lost("shutting down", timed_out=True))
        await self.settled()
        for link in self.links.values():
            link.close("shutting down")

    async def settled(self) -> None:
        """Wait until the OCS has answered everything asked of it so far (a dialogue's
        answer to the switch does not wait for its charge to end)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(1.0)
            now = loop.time()
            for dialogue in self.dialogues.expired(now):
                self._feed(dialogue, Lost("no message for idle_seconds", timed_out=True))
            if dropped := self._segments.expired(now):
                ERRORS.inc(("sccp", "segment_dropped"), dropped)

    # --- AspHandler ------------------------------------------------------------------------

    def asp_active(self, link: AspLink) -> None:
        ASP_ACTIVE.labels(link.name).set(1)

    def asp_down(self, link: AspLink, reason: str) -> None:
        ASP_ACTIVE.labels(link.name).set(0)
        log.warning("M3UA link down", extra={"link": link.name, "reason": reason})

    def asp_reachability(self, link: AspLink, point_codes: tuple[int, ...], up: bool) -> None:
        log.info("M3UA destinations " + ("available" if up else "unavailable"),
                 extra={"link": link.name, "point_codes": list(point_codes)})  # fmt: skip

    def asp_data(self, link: AspLink, data: ProtocolData) -> None:
        if data.si != SI_SCCP:
            ERRORS.inc(("m3ua", "not_sccp"))
            return
        try:
            udt = sccp.decode(data.data)
        except sccp.DecodeError as exc:
            ERRORS.inc(("sccp", "malformed"))
            log.info("SCCP message not read", extra={"link": link.name, "error": str(exc)})
            return
        route = Route(link, data.opc, data.ni, data.sls)
        if udt.return_cause is not None:
            ERRORS.inc(("sccp", "returned_to_us"))
            log.warning("an SCCP message of ours came back",
                        extra={"cause": udt.return_cause, "from": data.opc})  # fmt: skip
            return
        if udt.segment is not None:  # one piece of a longer message: wait for the rest
            whole = self._segments.add(udt, asyncio.get_running_loop().time())
            if isinstance(whole, str):
                ERRORS.inc(("sccp", "segment_dropped"))
                log.info("SCCP segment dropped", extra={"from": data.opc, "reason": whole})
            if not isinstance(whole, Unitdata):
                return
            udt = whole
        if udt.called.ssn is not None and udt.called.ssn != CAP_SSN:
            ERRORS.inc(("sccp", "unequipped_user"))
            if udt.return_on_error:
                back = Unitdata(udt.calling, udt.called, udt.data,
                                return_cause=ReturnCause.UNEQUIPPED_USER)  # fmt: skip
                self._transfer(route, sccp.encode(back))
            return
        self._tcap(route, udt)

    # --- TCAP -----------------------------------------------------------------------------

    def _tcap(self, route: Route, udt: Unitdata) -> None:
        loop = asyncio.get_running_loop()
        verdict = self.dialogues.receive(udt.data, udt.calling, loop.time())
        if isinstance(verdict, Refused):
            ERRORS.inc(("tcap", verdict.cause))
            if verdict.answer is not None:
                self._send(route, udt.calling, verdict.answer)
            return
        dialogue = verdict.dialogue
        if isinstance(verdict, Opened):
            service = SERVICE_NAMES[dialogue.service]
            machine_type = CallMachine if dialogue.service is Service.CALL else SmsMachine
            machine = machine_type(self._policy, self._resolve, dialogue.version)
            key = f"camel-{self._boot}-{dialogue.local.hex()}"
            dialogue.user = Call(machine, route, key, time.perf_counter(), service)
            self._active[service].inc()
        elif isinstance(verdict, Aborted):
            self._feed(dialogue, Lost(verdict.reason))
            return
        for c in verdict.components:
            if isinstance(c, tcap.Invoke):
                OPERATIONS.inc(("in", OP_NAMES.get(c.opcode, "unknown")))
        self._feed(dialogue, Received(verdict.components, isinstance(verdict, Ended)))

    def _feed(self, dialogue: Dialogue, event: Received | Charged | Lost) -> None:
        call: Call = dialogue.user
        actions = call.machine.handle(event)
        if call.machine.answered and call.answered is None:
            call.answered = datetime.now(UTC)  # the charge's answer time from now on
        self._run(dialogue, call, actions)

    def _run(self, dialogue: Dialogue, call: Call, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Ask):
                self._charge(dialogue, call, action)
            elif isinstance(action, Answer):
                for c in action.components:
                    if isinstance(c, tcap.Invoke):
                        OPERATIONS.inc(("out", OP_NAMES.get(c.opcode, "unknown")))
                    elif isinstance(c, tcap.Reject):
                        ERRORS.inc(("cap", c.problem.name.lower()))
                    elif isinstance(c, tcap.ReturnError):
                        ERRORS.inc(("cap", "unexpected_component_sequence"))
                msg = self.dialogues.message(dialogue, action.components, action.end)
                self._send(call.route, dialogue.peer, msg)
                if not call.replied:
                    call.replied = True
                    FIRST_ANSWER.observe((call.service,), time.perf_counter() - call.opened)
            elif isinstance(action, Abort):
                self._send(call.route, dialogue.peer, self.dialogues.abort(dialogue))
            elif isinstance(action, Finished) and not call.finished:
                call.finished = True
                self._active[call.service].dec()
                DIALOGUES.inc((call.service, action.outcome))
                if action.cause is not None:
                    RELEASES.inc((call.service, str(action.cause)))

    def _send(self, route: Route, peer: Address, msg: tcap.Message) -> None:
        data = tcap.encode(msg)
        if len(data) <= SEGMENT_DATA:
            self._transfer(route, sccp.encode(Unitdata(peer, self.address, data)))
            return
        self._reference = (self._reference + 1) & 0xFFFFFF  # too long for a UDT: segments
        for segment in split(peer, self.address, data, self._reference):
            self._transfer(route, sccp.encode(segment))

    def _transfer(self, route: Route, data: bytes) -> None:
        link = route.link
        if not link.active:
            link = next((other for other in self.links.values() if other.active), link)
        link.transfer(ProtocolData(self.cfg.point_code, route.point_code, SI_SCCP, route.ni,
                                   0, route.sls, data))  # fmt: skip

    # --- the OCS ----------------------------------------------------------------------------

    def _charge(self, dialogue: Dialogue, call: Call, ask: Ask) -> None:
        machine = call.machine
        assert machine.account is not None and machine.parties is not None
        unit = Unit.SECONDS if dialogue.service is Service.CALL else Unit.UNITS
        charge = Charge(call.key, call.key, f"{call.key}:{call.requests}", machine.account,
                        unit, ask.requested, ask.used, datetime.now(UTC),
                        service_context=f"camel:{machine.service_key}",
                        other_party=machine.parties.other, answered=call.answered)  # fmt: skip
        call.requests += 1
        previous = call.pending if call.pending is not None and not call.pending.done() else None
        # Run at once what need not wait (the embedded OCS never does); a task otherwise.
        task = eager.start(self._ocs_step(dialogue, call, ask.step, charge, previous))
        if task is not None:
            call.pending = task
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _ocs_step(
        self,
        dialogue: Dialogue,
        call: Call,
        step: Step,
        charge: Charge,
        previous: asyncio.Task[None] | None,
    ) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        if step is Step.TERMINATE:
            try:
                await self._ocs.terminate(charge)
            except OcsError as exc:  # the guard keeps the usage of an OCS that is away
                log.warning("OCS terminate failed", extra={"charge": charge.key,
                                                           "reason": exc.reason})  # fmt: skip
            return
        call_ocs: Coroutine[Any, Any, Grant] = (
            self._ocs.initiate(charge) if step is Step.INITIATE else self._ocs.update(charge)
        )
        try:
            event = Charged(grant=await call_ocs)
        except OcsError as exc:
            event = Charged(error=exc)
        except Exception as exc:  # a bug in a backend must not leave a call open
            log.exception("OCS call failed", extra={"charge": charge.key})
            event = Charged(error=OcsError(Outcome.FAILED, str(exc)))
        self._feed(dialogue, event)
