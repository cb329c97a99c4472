"""A simulated gsmSSF (the CAMEL side of an MSC): plays prepaid calls and SMS against a
gsmSCF over M3UA/SCCP/TCAP/CAP, as the tests, the load benchmark and operators' labs need.

A call is played in simulated time: the switch reports the end of each period
ApplyCharging grants at once instead of waiting for it, so a 20-minute call takes as
long as its messages. Scenarios: answered and talking `talk_seconds` (None: until the
gsmSCF releases it, credit exhaustion), busy, no answer, abandoned, route failure; MO or
MT; SMS submitted or failed. Each result says what the gsmSCF answered and how long each
answer took.

Two ways to reach the gsmSCF: through an STP, as an ASP of its own (`connect_asp`, the
way the SCTP lane goes through osmo-stp), or standing in for the STP itself
(`listen_sgp`: omnigw's ASP connects to the simulator, which answers ASP management as
an SGP does).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from omnigw.camel.cap import codec as cap
from omnigw.camel.cap.codec import CONTEXT_OF, Event, Number, Op, Service, SmsEvent
from omnigw.camel.m3ua import codec as m3ua
from omnigw.camel.m3ua.codec import (
    ASPAC,
    ASPAC_ACK,
    ASPDN,
    ASPDN_ACK,
    ASPIA,
    ASPIA_ACK,
    ASPUP,
    ASPUP_ACK,
    BEAT,
    BEAT_ACK,
    DATA,
    PPID,
    SI_SCCP,
    ProtocolData,
    Tag,
)
from omnigw.camel.m3ua.fsm import AspFsm
from omnigw.camel.m3ua.link import AspLink, over_tcp
from omnigw.camel.sccp import codec as sccp
from omnigw.camel.sccp.codec import CAP_SSN, Address, GlobalTitle, Unitdata
from omnigw.camel.sccp.segments import split
from omnigw.camel.tcap import codec as tcap
from omnigw.camel.tcap.codec import Invoke, Kind, Request
from omnigw.transport.base import MessageTransport
from omnigw.transport.open import Kind as TransportKind
from omnigw.transport.open import Listener, connect, serve

ANSWER_EVENT = {False: Event.O_ANSWER, True: Event.T_ANSWER}
DISCONNECT_EVENT = {False: Event.O_DISCONNECT, True: Event.T_DISCONNECT}
NOT_ANSWERED = {
    ("busy", False): Event.O_CALLED_PARTY_BUSY, ("busy", True): Event.T_BUSY,
    ("no_answer", False): Event.O_NO_ANSWER, ("no_answer", True): Event.T_NO_ANSWER,
    ("abandon", False): Event.O_ABANDON, ("abandon", True): Event.T_ABANDON,
    ("route_failure", False): Event.ROUTE_SELECT_FAILURE,
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class CallScenario:
    calling: str = "34600000001"
    called: str = "34600000002"
    imsi: str | None = "214010000000001"
    service_key: int = 100
    version: int = 3
    mt: bool = False
    outcome: str = "answer"  # or busy, no_answer, abandon, route_failure
    talk_seconds: float | None = 60.0  # None: until the gsmSCF releases the call
    hold: asyncio.Event | None = None  # once answered, report only after this is set
    ring_seconds: float = 0.0  # real time between InitialDP's answer and the call's answer


@dataclass(frozen=True, slots=True)
class SmsScenario:
    sender: str = "34600000001"
    recipient: str = "34600000002"
    imsi: str | None = "214010000000001"
    service_key: int = 200
    version: int = 3
    submitted: bool = True


@dataclass
class Result:
    ended_by: str = ""  # ssf, scf (a TC-END), released (ReleaseCall/ReleaseSMS), aborted
    cause: int | None = None  # the release cause
    periods: list[int] = field(default_factory=list)  # each maxCallPeriodDuration (100 ms)
    release_at_expiry: bool = False  # the last ApplyCharging asked us to release
    reported: int = 0  # the last time reported, 100 ms units
    received: list[tcap.Message] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)  # request sent -> answer, seconds
    abort: tcap.Message | None = None


class Mailbox:
    """The gsmSCF's messages for one dialogue, waited for one at a time."""

    __slots__ = ("_items", "_waiter", "remote")

    def __init__(self) -> None:
        self._items: deque[tcap.Message] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self.remote: bytes | None = None  # the gsmSCF's transaction id

    def put(self, msg: tcap.Message) -> None:
        self._items.append(msg)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def get(self) -> tcap.Message:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        return self._items.popleft()


class SimSsf:
    def __init__(
        self,
        point_code: int = 100,
        scf_point_code: int = 200,
        ni: int = 2,
        gt: str = "34600000099",
        scf: Address | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.point_code, self.scf_point_code, self.ni = point_code, scf_point_code, ni
        self.address = Address(CAP_SSN, point_code, GlobalTitle(gt), route_on_ssn=False)
        self.scf = scf or Address(CAP_SSN, scf_point_code)
        self.timeout = timeout
        self._link: AspLink | SgpSide | None = None
        self._boxes: dict[bytes, Mailbox] = {}
        self._next = 0
        self.ready = asyncio.Event()
        self.unexpected: list[bytes] = []  # messages for no dialogue of ours
        self.returned: list[Unitdata] = []  # our SCCP messages that came back (UDTS/XUDTS)

    # --- the wire -------------------------------------------------------------------------

    def attach(self, link: AspLink | SgpSide) -> None:
        self._link = link
        self.ready.set()

    def receive(self, data: ProtocolData) -> None:
        udt = sccp.decode(data.data)
        if udt.return_cause is not None:
            self.returned.append(udt)
            return
        msg = tcap.decode(udt.data)
        box = self._boxes.get(msg.dtid or b"")
        if box is None:
            self.unexpected.append(udt.data)
            return
        box.put(msg)

    def _send(self, msg: tcap.Message, sls: int = 0) -> None:
        self.send_sccp(sccp.encode(Unitdata(self.scf, self.address, tcap.encode(msg))), sls)

    def send_sccp(self, data: bytes, sls: int = 0) -> None:
        """Any SCCP octets to the gsmSCF's point code."""
        assert self._link is not None, "not connected"
        self._link.transfer(ProtocolData(self.point_code, self.scf_point_code, SI_SCCP,
                                         self.ni, 0, sls, data))  # fmt: skip

    def _open(self) -> tuple[bytes, Mailbox]:
        self._next = (self._next + 1) & 0xFFFFFFFF
        otid = self._next.to_bytes(4, "big")
        box = self._boxes[otid] = Mailbox()
        return otid, box

    async def _ask(
        self, result: Result, box: Mailbox, otid: bytes, msg: tcap.Message
    ) -> tcap.Message:
        started = time.perf_counter()
        self._send(msg, otid[-1] & 0x0F)
        async with asyncio.timeout(self.timeout):
            answer = await box.get()
        result.latencies.append(time.perf_counter() - started)
        result.received.append(answer)
        if answer.otid is not None and box.remote is None:
            box.remote = answer.otid
        return answer

    def _continue(self, otid: bytes, box: Mailbox, *components: tcap.Component) -> tcap.Message:
        return tcap.Message(Kind.CONTINUE, otid=otid, dtid=box.remote, components=components)

    # --- a call -----------------------------------------------------------------------------

    async def call(self, s: CallScenario) -> Result:
        otid, box = self._open()
        try:
            return await self._call(s, otid, box)
        finally:
            del self._boxes[otid]

    async def _call(self, s: CallScenario, otid: bytes, box: Mailbox) -> Result:
        result = Result()
        event = Event.TERM_ATTEMPT_AUTHORIZED if s.mt else Event.COLLECTED_INFO
        idp = cap.InitialDp(s.service_key, event, Number(s.calling, True),
                            Number(s.called, True), s.imsi)  # fmt: skip
        invoke = Invoke(1, Op.INITIAL_DP, cap.encode_initial_dp(idp))
        begin = tcap.Message(Kind.BEGIN, otid=otid, components=(invoke,),
                             dialogue=Request(CONTEXT_OF[(s.version, Service.CALL)]))  # fmt: skip
        answer = await self._ask(result, box, otid, begin)
        if self._over(answer, result):
            return result
        self._charging(answer, result)
        if s.outcome != "answer":
            report = cap.BcsmReport(NOT_ANSWERED[(s.outcome, s.mt)], notification=True)
            msg = self._continue(otid, box, self._erb(report))
            self._over(await self._ask(result, box, otid, msg), result)
            return result
        if s.ring_seconds:
            await asyncio.sleep(s.ring_seconds)
        self._send(self._continue(otid, box, self._erb(
            cap.BcsmReport(ANSWER_EVENT[s.mt], leg=2, notification=True))))  # fmt: skip
        leg = 2 if s.mt else 1
        if s.hold is not None:
            await s.hold.wait()
        while True:
            elapsed = result.reported + result.periods[-1]
            talk = None if s.talk_seconds is None else round(s.talk_seconds * 10)
            if (talk is not None and talk <= elapsed) or result.release_at_expiry:
                end = elapsed if talk is None else min(talk, elapsed)
                result.reported = end
                last = self._continue(
                    otid, box, self._acr(end, active=False),
                    self._erb(cap.BcsmReport(DISCONNECT_EVENT[s.mt], leg=leg, cause=16)),
                )  # fmt: skip
                self._over(await self._ask(result, box, otid, last), result)
                return result
            result.reported = elapsed
            answer = await self._ask(result, box, otid,
                                     self._continue(otid, box, self._acr(elapsed)))  # fmt: skip
            if self._over(answer, result):
                return result
            self._charging(answer, result)

    @staticmethod
    def _erb(report: cap.BcsmReport) -> Invoke:
        return Invoke(2, Op.EVENT_REPORT_BCSM, cap.encode_event_report_bcsm(report))

    @staticmethod
    def _acr(time_100ms: int, active: bool = True) -> Invoke:
        report = cap.ChargingReport(min(time_100ms, 864000), active)
        return Invoke(3, Op.APPLY_CHARGING_REPORT, cap.encode_apply_charging_report(report))

    @staticmethod
    def _charging(answer: tcap.Message, result: Result) -> None:
        for c in answer.components:
            if isinstance(c, Invoke) and c.opcode == Op.APPLY_CHARGING:
                charging = cap.read_apply_charging(c.argument or b"")
                result.periods.append(charging.duration)
                result.release_at_expiry = charging.release
        if not result.periods:
            raise AssertionError(f"no ApplyCharging in {answer}")

    @staticmethod
    def _over(answer: tcap.Message, result: Result) -> bool:
        """Whether the gsmSCF ended the dialogue (and how)."""
        if answer.kind is Kind.ABORT:
            result.ended_by, result.abort = "aborted", answer
            return True
        if answer.kind is not Kind.END:
            return False
        result.ended_by = "scf"
        for c in answer.components:
            if isinstance(c, Invoke) and c.opcode == Op.RELEASE_CALL:
                result.ended_by = "released"
                result.cause = cap.cause_value((c.argument or b"\x04\x00")[2:])
            elif isinstance(c, Invoke) and c.opcode == Op.RELEASE_SMS:
                result.ended_by = "released"
                result.cause = (c.argument or b"\x04\x01\x00")[2]
        return True

    # --- an SMS ----------------------------------------------------------------------------

    async def sms(self, s: SmsScenario) -> Result:
        otid, box = self._open()
        try:
            result = Result()
            idp = cap.InitialDpSms(s.service_key, SmsEvent.SMS_COLLECTED_INFO,
                                   Number(s.recipient, True), Number(s.sender, True),
                                   s.imsi)  # fmt: skip
            begin = tcap.Message(Kind.BEGIN, otid=otid,
                                 dialogue=Request(CONTEXT_OF[(s.version, Service.SMS)]),
                                 components=(Invoke(1, Op.INITIAL_DP_SMS,
                                                    cap.encode_initial_dp_sms(idp)),))  # fmt: skip
            if self._over(await self._ask(result, box, otid, begin), result):
                return result
            event = SmsEvent.O_SMS_SUBMISSION if s.submitted else SmsEvent.O_SMS_FAILURE
            report = Invoke(2, Op.EVENT_REPORT_SMS, cap.encode_event_report_sms(event))
            self._over(await self._ask(result, box, otid, self._continue(otid, box, report)),
                       result)  # fmt: skip
            return result
        finally:
            del self._boxes[otid]

    async def raw(
        self, data: bytes, wait: bool = True, segmented: bool = False
    ) -> tcap.Message | None:
        """Send any TCAP octets (malformed ones too) in a dialogue of its own, in one UDT or
        as XUDT segments; the answer to the transaction id they carry, if `wait`."""
        try:
            otid = tcap.decode(data).otid or b""
        except tcap.DecodeError as exc:
            otid = exc.otid or b""
        box = self._boxes.setdefault(otid, Mailbox())
        try:
            if segmented:
                for segment in split(self.scf, self.address, data, self._next):
                    self.send_sccp(sccp.encode(segment))
            else:
                self.send_sccp(sccp.encode(Unitdata(self.scf, self.address, data)))
            if not wait:
                return None
            async with asyncio.timeout(self.timeout):
                return await box.get()
        finally:
            self._boxes.pop(otid, None)


class SgpSide:
    """The simulator standing in for an STP: an SGP's answers to ASP management, then DATA
    both ways (RFC 4666 4.3)."""

    def __init__(self, ssf: SimSsf) -> None:
        self._ssf = ssf
        self._transport: MessageTransport | None = None
        self._context: bytes | None = None
        self.active = False
        self.closed = asyncio.Event()

    def connection_made(self, transport: MessageTransport) -> None:
        self._transport = transport

    def message_received(self, data: bytes, stream: int, ppid: int) -> None:
        msg = m3ua.decode(data)
        kind = msg.kind
        if kind == DATA:
            pd = msg.protocol_data
            if pd is not None:
                self._ssf.receive(pd)
        elif kind == ASPUP:
            self._reply(m3ua.message(ASPUP_ACK))
        elif kind == ASPAC:
            self._context = msg.params.get(Tag.ROUTING_CONTEXT)
            params = [(Tag.TRAFFIC_MODE, msg.params.get(Tag.TRAFFIC_MODE, m3ua.u32(2)))]
            if self._context is not None:
                params.append((Tag.ROUTING_CONTEXT, self._context))
            self._reply(m3ua.message(ASPAC_ACK, *params))
            self.active = True
            self._ssf.attach(self)
        elif kind == BEAT:
            self._reply(m3ua.message(BEAT_ACK, *msg.params.items()))
        elif kind == ASPIA:
            self.active = False
            self._reply(m3ua.message(ASPIA_ACK))
        elif kind == ASPDN:
            self.active = False
            self._reply(m3ua.message(ASPDN_ACK))

    def _reply(self, msg: m3ua.Message, stream: int = 0) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.send(m3ua.encode(msg), stream, PPID)

    def transfer(self, data: ProtocolData) -> None:
        params = [(Tag.PROTOCOL_DATA, data.encode())]
        if self._context is not None:
            params.insert(0, (Tag.ROUTING_CONTEXT, self._context))
        streams = self._transport.streams if self._transport is not None else 1
        self._reply(m3ua.message(DATA, *params), 1 % streams)

    def connection_lost(self, exc: Exception | None) -> None:
        self.active = False
        self.closed.set()

    def writable(self, writable: bool) -> None:
        pass

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


async def listen_sgp(ssf: SimSsf, kind: TransportKind, host: str, port: int) -> Listener:
    """Listen as an STP would; the gsmSCF's ASP connects and the simulator serves it."""
    return await serve(kind, [host], port, lambda remote: SgpSide(ssf), tcp=over_tcp)


class _AspSide:
    def __init__(self, ssf: SimSsf) -> None:
        self._ssf = ssf

    def asp_active(self, link: AspLink) -> None:
        self._ssf.attach(link)

    def asp_down(self, link: AspLink, reason: str) -> None:
        self._ssf.ready.clear()

    def asp_data(self, link: AspLink, data: ProtocolData) -> None:
        self._ssf.receive(data)

    def asp_reachability(self, link: AspLink, point_codes: tuple[int, ...], up: bool) -> None:
        pass


async def connect_asp(
    ssf: SimSsf,
    kind: TransportKind,
    host: str,
    port: int,
    routing_context: int | None,
    local: Sequence[str] = (),
    local_port: int = 0,
) -> AspLink:
    """Join an STP as an ASP of its own (the STP may know it by `local` addresses and
    `local_port`); `ssf.ready` is set once the ASP is active."""
    link = AspLink("sim-ssf", AspFsm(routing_context, heartbeat=None), _AspSide(ssf))
    await connect(kind, [host], port, list(local), link, local_port, tcp=over_tcp)
    return link


@dataclass
class Tally:
    """What a batch of calls or SMS came to."""

    outcomes: dict[str, int] = field(default_factory=dict)  # ended_by[:cause] -> count
    latencies: list[float] = field(default_factory=list)
    transactions: int = 0  # messages the gsmSCF answered
    seconds: float = 0.0

    def add(self, result: Result) -> None:
        key = result.ended_by + (f":{result.cause}" if result.cause is not None else "")
        self.outcomes[key] = self.outcomes.get(key, 0) + 1
        self.latencies.extend(result.latencies)
        self.transactions += len(result.latencies)


async def play(ssf: SimSsf, scenario: CallScenario | SmsScenario, count: int,
               concurrency: int) -> Tally:  # fmt: skip
    """`count` calls (or SMS) of `scenario`, `concurrency` at a time."""
    tally = Tally()
    started = time.perf_counter()
    left = count

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            if isinstance(scenario, CallScenario):
                tally.add(await ssf.call(scenario))
            else:
                tally.add(await ssf.sms(scenario))

    await asyncio.gather(*(worker() for _ in range(min(concurrency, count))))
    tally.seconds = time.perf_counter() - started
    return tally
