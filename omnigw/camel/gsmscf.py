"""The gsmSCF's decisions for one CAMEL dialogue: a prepaid call or a prepaid SMS.

Events in (the gsmSSF's components, the OCS's answers, the dialogue lost), actions out
(components to send, charges to ask the OCS, the outcome); no sockets, no clock, no OCS
calls: the service runs the actions and feeds the answers back.

A call (TS 23.078 4.5, prepaid as operators deploy it):

    InitialDP --> reserve the first period in the OCS --> TC-CONTINUE
        [RequestReportBCSMEvent, ApplyCharging(granted), Continue]
    EventReportBCSM(answer) --> talking
    ApplyChargingReport (time since answer, cumulative) --> the OCS is told the seconds
        used since the last report and asked for the next period --> ApplyCharging,
        or ReleaseCall (no credit) in a TC-END
    last report + EventReportBCSM(disconnect) --> the charge ends; TC-END [Continue]
    busy, no answer, abandon, route failure --> the charge ends with nothing used

The reservation is made at InitialDP, not at answer, so the duration ApplyCharging grants
is credit already held: two calls of one subscriber cannot both spend the same balance.
An unanswered call ends its charge with nothing used (the reservation goes back). A grant
the OCS marks final (the balance is exhausted) asks the switch to release the call itself
when it runs out. An unknown subscriber, no credit and an OCS that cannot be asked get
ReleaseCall with the configured causes (50, 31, 41 by default); the OCS failure policy
(reject or a fallback grant, usage kept and replayed) lives in the OCS guard, as for Gy.

An SMS (CAP v3/v4): InitialDPSMS --> reserve one unit --> [RequestReportSMSEvent,
ContinueSMS]; EventReportSMS(submitted or delivered) --> the unit is used; (failure)
--> nothing is; refusals get ReleaseSMS with the configured RP-Cause.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from omnigw.camel.ber import DecodeError
from omnigw.camel.cap import codec as cap
from omnigw.camel.cap.codec import Event, Mode, Op, SmsEvent
from omnigw.camel.parties import Parties, Resolver, e164
from omnigw.camel.tcap.codec import (
    BadComponent,
    Component,
    Invoke,
    Problem,
    Reject,
    ReturnError,
)
from omnigw.ocs.charge import Grant, OcsError, Outcome

UNEXPECTED_COMPONENT_SEQUENCE = 14  # CAP error code
ANSWERS = {Event.O_ANSWER, Event.T_ANSWER}
DISCONNECTS = {Event.O_DISCONNECT, Event.T_DISCONNECT}
UNANSWERED = {
    Event.ROUTE_SELECT_FAILURE: "route_failure", Event.O_CALLED_PARTY_BUSY: "busy",
    Event.O_NO_ANSWER: "no_answer", Event.O_ABANDON: "abandoned", Event.T_BUSY: "busy",
    Event.T_NO_ANSWER: "no_answer", Event.T_ABANDON: "abandoned",
}  # fmt: skip
N, WAIT = Mode.NOTIFY_AND_CONTINUE, Mode.INTERRUPTED
MO_EVENTS = [(Event.ROUTE_SELECT_FAILURE, N, None), (Event.O_CALLED_PARTY_BUSY, N, None),
             (Event.O_NO_ANSWER, N, None), (Event.O_ANSWER, N, None),
             (Event.O_DISCONNECT, WAIT, 1), (Event.O_DISCONNECT, WAIT, 2),
             (Event.O_ABANDON, N, None)]  # fmt: skip
MT_EVENTS = [(Event.T_BUSY, N, None), (Event.T_NO_ANSWER, N, None), (Event.T_ANSWER, N, None),
             (Event.T_DISCONNECT, WAIT, 1), (Event.T_DISCONNECT, WAIT, 2),
             (Event.T_ABANDON, N, None)]  # fmt: skip
# The arming is the same for every call of a direction: written once
MO_ARMING = cap.request_report_bcsm(MO_EVENTS)
MT_ARMING = cap.request_report_bcsm(MT_EVENTS)
MO_SMS_EVENTS = [(SmsEvent.O_SMS_SUBMISSION, N), (SmsEvent.O_SMS_FAILURE, N)]
MT_SMS_EVENTS = [(SmsEvent.T_SMS_DELIVERY, N), (SmsEvent.T_SMS_FAILURE, N)]


@dataclass(frozen=True, slots=True)
class Causes:
    """What a refusal is released with: Q.850 causes for calls, RP-Causes for SMS."""

    no_credit: int
    unknown_subscriber: int
    failure: int  # the OCS could not be asked, or failed

    def of(self, outcome: Outcome) -> int:
        if outcome is Outcome.NO_CREDIT:
            return self.no_credit
        if outcome in (Outcome.UNKNOWN_ACCOUNT, Outcome.ACCOUNT_DISABLED):
            return self.unknown_subscriber
        return self.failure


@dataclass(frozen=True, slots=True)
class Policy:
    country_code: str
    call_causes: Causes
    sms_causes: Causes
    period_seconds: int | None  # asked of the OCS each time; None: the OCS's default
    service_keys: frozenset[int] = frozenset()  # served; empty: any


# --- events -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Received:
    components: tuple[Component, ...]
    ended: bool  # the gsmSSF closed the dialogue (TC-END): nothing can be sent back


@dataclass(slots=True)
class Charged:
    """The OCS's answer to the last Ask."""

    grant: Grant | None = None
    error: OcsError | None = None


@dataclass(slots=True)
class Lost:
    """The dialogue is gone: aborted by the gsmSSF, or silent past its idle time."""

    reason: str
    timed_out: bool = False


Input = Received | Charged | Lost

# --- actions ----------------------------------------------------------------------------------


class Step(Enum):
    INITIATE = "initiate"
    UPDATE = "update"
    TERMINATE = "terminate"


@dataclass(slots=True)
class Ask:
    """Charge this dialogue's account: `used` since the last report, `requested` next."""

    step: Step
    used: int = 0
    requested: int | None = None


@dataclass(slots=True)
class Answer:
    components: tuple[Component, ...]
    end: bool


@dataclass(slots=True)
class Abort:
    reason: str


@dataclass(slots=True)
class Finished:
    """The dialogue's outcome (counted), and the release cause if we released."""

    outcome: str
    cause: int | None = None


Action = Ask | Answer | Abort | Finished


class State(Enum):
    NEW = "new"
    AUTHORIZING = "authorizing"  # the first reservation is asked
    ARMED = "armed"  # the switch routes the call (or sends the SMS)
    TALKING = "talking"
    UPDATING = "updating"  # a report is with the OCS
    ENDED = "ended"


class Machine:
    """What the call and SMS machines share: invoke ids, the charge's life, the ending."""

    service_key: int | None = None

    def __init__(self, policy: Policy, resolve: Resolver, version: int) -> None:
        self.policy = policy
        self._resolve = resolve
        self.version = version
        self.state = State.NEW
        self.account: str | None = None
        self.parties: Parties | None = None
        self.answered = False  # the call was answered (the service notes when)
        self._invoke = 0
        self._charge_open = False
        self._out: list[Action] = []
        self._components: list[Component] = []
        self._end = False
        self._ssf_ended = False

    # --- helpers the subclasses speak in ---------------------------------------------------

    def _send(self, op: Op, argument: bytes | None = None) -> None:
        self._invoke = self._invoke % 127 + 1
        self._components.append(Invoke(self._invoke, op, argument))

    def _ask(self, step: Step, used: int = 0, requested: int | None = None) -> None:
        if step is Step.INITIATE:
            self._charge_open = True
        elif step is Step.TERMINATE:
            if not self._charge_open:
                return
            self._charge_open = False
        self._out.append(Ask(step, used, requested))

    def _finish(self, outcome: str, cause: int | None = None, end: bool = True) -> None:
        if self.state is State.ENDED:
            return
        self.state = State.ENDED
        self._ask(Step.TERMINATE)
        self._end = self._end or end
        self._out.append(Finished(outcome, cause))

    def _take(self) -> list[Action]:
        """The actions of one event: asks first, then one message back (if any)."""
        out = self._out
        if (self._components or self._end) and not self._ssf_ended:
            out.append(Answer(tuple(self._components), self._end))
        self._out, self._components, self._end = [], [], False
        return out

    # --- events ------------------------------------------------------------------------------

    def handle(self, event: Input) -> list[Action]:
        if isinstance(event, Received):
            self._ssf_ended = event.ended
            for component in event.components:
                self._component(component)
            if event.ended and self.state is not State.ENDED:
                self._finish(self._quiet_end(), end=False)
        elif isinstance(event, Charged):
            if self.state is not State.ENDED:
                self._charged(event)
        else:
            self._ssf_ended = True  # nothing more can reach the gsmSSF in this dialogue
            if self.state is not State.ENDED:
                self._finish("timed_out" if event.timed_out else "aborted", end=False)
            if event.timed_out:
                self._out.append(Abort(event.reason))
        return self._take()

    def _component(self, c: Component) -> None:
        if isinstance(c, BadComponent):
            self._components.append(Reject(c.invoke_id, c.problem))
            return
        if isinstance(c, (Reject, ReturnError)):
            # The switch refused one of our operations: the call can no longer be
            # controlled, so it is released rather than left running uncharged.
            self._release("refused_by_ssf", self.causes.failure)
            return
        if not isinstance(c, Invoke):
            return  # a result: none of our operations asks for one
        try:
            known = self._invoked(c)
        except (DecodeError, ValueError, IndexError):
            self._components.append(Reject(c.invoke_id, Problem.MISTYPED_PARAMETER))
            if self.state is State.NEW:
                self._finish("malformed")
            return
        if not known:
            self._components.append(Reject(c.invoke_id, Problem.UNRECOGNIZED_OPERATION))

    def _out_of_sequence(self, c: Invoke) -> None:
        self._components.append(ReturnError(c.invoke_id, UNEXPECTED_COMPONENT_SEQUENCE))

    def _refused(self, error: OcsError) -> None:
        outcome = error.outcome
        name = "no_credit" if outcome is Outcome.NO_CREDIT else (
            "unknown_subscriber" if outcome in (Outcome.UNKNOWN_ACCOUNT, Outcome.ACCOUNT_DISABLED)
            else "ocs_failure" if outcome in (Outcome.UNAVAILABLE, Outcome.BUSY, Outcome.FAILED)
            else "refused"
        )  # fmt: skip
        if self.state is State.AUTHORIZING:
            self._charge_open = False  # the first reservation was refused: nothing to end
        self._release(name, self.causes.of(outcome))

    def _start(self, parties: Parties, service_key: int) -> None:
        self.service_key = service_key
        self.parties = parties
        if self.policy.service_keys and service_key not in self.policy.service_keys:
            self._release("unknown_service_key", self.causes.failure)
            return
        try:
            self.account = parties.account(self._resolve)
        except OcsError as exc:
            self._refused(exc)
            return
        if self.account is None:
            self._release("unknown_subscriber", self.causes.unknown_subscriber)
            return
        self.state = State.AUTHORIZING
        self._ask(Step.INITIATE, requested=self._first_request())

    # --- what each service defines -------------------------------------------------------

    @property
    def causes(self) -> Causes:
        raise NotImplementedError

    def _first_request(self) -> int | None:
        raise NotImplementedError

    def _invoked(self, c: Invoke) -> bool:
        raise NotImplementedError

    def _quiet_end(self) -> str:
        """The outcome of a dialogue the gsmSSF ended without saying how."""
        return "ended_by_ssf"

    def _charged(self, event: Charged) -> None:
        raise NotImplementedError

    def _release(self, outcome: str, cause: int) -> None:
        raise NotImplementedError


class CallMachine(Machine):
    def __init__(self, policy: Policy, resolve: Resolver, version: int) -> None:
        super().__init__(policy, resolve, version)
        self.leg = 1  # the leg charged: the calling party's (MO) or the called party's (MT)
        self.reported = 0  # seconds of talk reported to the OCS so far

    @property
    def causes(self) -> Causes:
        return self.policy.call_causes

    def _first_request(self) -> int | None:
        return self.policy.period_seconds

    def _quiet_end(self) -> str:
        talked = self.reported or self.state in (State.TALKING, State.UPDATING)
        return "completed" if talked else "not_answered"

    def _invoked(self, c: Invoke) -> bool:
        if c.opcode == Op.INITIAL_DP:
            if self.state is not State.NEW:
                self._out_of_sequence(c)
                return True
            self._initial_dp(cap.initial_dp(c.argument or b""))
        elif c.opcode == Op.EVENT_REPORT_BCSM:
            self._event(cap.event_report_bcsm(c.argument or b""))
        elif c.opcode == Op.APPLY_CHARGING_REPORT:
            self._report(cap.apply_charging_report(c.argument or b""))
        else:
            return False
        return True

    def _initial_dp(self, idp: cap.InitialDp) -> None:
        cc = self.policy.country_code
        if idp.event >= Event.TERM_ATTEMPT_AUTHORIZED:
            self.leg = 2
            parties = Parties(e164(idp.called, cc), idp.imsi, e164(idp.calling, cc))
        else:
            parties = Parties(e164(idp.calling, cc), idp.imsi, e164(idp.called, cc))
        self._start(parties, idp.service_key)

    def _charged(self, event: Charged) -> None:
        if event.error is not None:
            self._refused(event.error)
            return
        assert event.grant is not None
        if self.state is State.AUTHORIZING:
            self._send(
                Op.REQUEST_REPORT_BCSM_EVENT,
                MT_ARMING if self.leg == 2 else MO_ARMING,
            )
            self._apply(event.grant)
            self._send(Op.CONTINUE)
            self.state = State.ARMED
        elif self.state is State.UPDATING:
            self._apply(event.grant)
            self.state = State.TALKING

    def _apply(self, grant: Grant) -> None:
        duration = min(max(grant.amount, 1) * 10, 864000)
        self._send(
            Op.APPLY_CHARGING, cap.apply_charging(duration, grant.final, self.version, self.leg)
        )

    def _event(self, report: cap.BcsmReport) -> None:
        if report.event in ANSWERS and self.state is State.ARMED:
            self.state = State.TALKING
            self.answered = True
        elif report.event in DISCONNECTS:
            self._send(Op.CONTINUE)
            self._finish(self._quiet_end())
        elif report.event in UNANSWERED:
            self._finish(UNANSWERED[Event(report.event)])

    def _report(self, report: cap.ChargingReport) -> None:
        total = -(-report.time // 10)  # whole seconds, rounded up once over the whole call
        used, self.reported = max(total - self.reported, 0), max(total, self.reported)
        if self.state not in (State.TALKING, State.ARMED, State.UPDATING):
            return
        if not report.leg_active or self._ssf_ended:
            self._ask(Step.TERMINATE, used=used)  # the last report: the call is over
            return
        self.state = State.UPDATING
        self._ask(Step.UPDATE, used=used, requested=self.policy.period_seconds)

    def _release(self, outcome: str, cause: int) -> None:
        self._send(Op.RELEASE_CALL, cap.release_call(cause))
        self._finish(outcome, cause)


class SmsMachine(Machine):
    def __init__(self, policy: Policy, resolve: Resolver, version: int) -> None:
        super().__init__(policy, resolve, version)
        self.mt = False

    @property
    def causes(self) -> Causes:
        return self.policy.sms_causes

    def _first_request(self) -> int | None:
        return 1

    def _invoked(self, c: Invoke) -> bool:
        if c.opcode == Op.INITIAL_DP_SMS:
            if self.state is not State.NEW:
                self._out_of_sequence(c)
                return True
            idp = cap.initial_dp_sms(c.argument or b"")
            cc = self.policy.country_code
            self.mt = idp.event >= SmsEvent.SMS_DELIVERY_REQUESTED
            if self.mt:
                parties = Parties(e164(idp.destination, cc), idp.imsi, e164(idp.calling, cc))
            else:
                parties = Parties(e164(idp.calling, cc), idp.imsi, e164(idp.destination, cc))
            self._start(parties, idp.service_key)
        elif c.opcode == Op.EVENT_REPORT_SMS:
            event = cap.event_report_sms(c.argument or b"")
            if self.state is State.ARMED:
                if event in (SmsEvent.O_SMS_SUBMISSION, SmsEvent.T_SMS_DELIVERY):
                    self._ask(Step.TERMINATE, used=1)
                    self._finish("sent")
                elif event in (SmsEvent.O_SMS_FAILURE, SmsEvent.T_SMS_FAILURE):
                    self._finish("not_sent")
        else:
            return False
        return True

    def _charged(self, event: Charged) -> None:
        if event.error is not None:
            self._refused(event.error)
            return
        if self.state is State.AUTHORIZING:
            events = MT_SMS_EVENTS if self.mt else MO_SMS_EVENTS
            self._send(Op.REQUEST_REPORT_SMS_EVENT, cap.request_report_sms(events))
            self._send(Op.CONTINUE_SMS)
            self.state = State.ARMED

    def _release(self, outcome: str, cause: int) -> None:
        self._send(Op.RELEASE_SMS, cap.release_sms(cause))
        self._finish(outcome, cause)
