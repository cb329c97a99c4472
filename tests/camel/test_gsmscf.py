"""The gsmSCF's call and SMS machines, driven by the components a gsmSSF sends and the
answers an OCS gives: no sockets, no clock, no OCS (the TCAP-primitive pattern)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from omnigw.camel.cap import codec as cap
from omnigw.camel.cap.codec import Event, Number, Op, SmsEvent
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
    Policy,
    Received,
    SmsMachine,
    State,
    Step,
)
from omnigw.camel.parties import E164, IMSI
from omnigw.camel.tcap.codec import (
    BadComponent,
    Component,
    Invoke,
    Problem,
    Reject,
    ReturnError,
)
from omnigw.ocs.charge import Grant, OcsError, Outcome

POLICY = Policy("34", Causes(31, 50, 41), Causes(21, 30, 41), period_seconds=300)
ALICE, BOB = Number("34600000001", True), Number("34600000002", True)
IMSI_ALICE = "214010000000001"
ACCOUNTS = {"34600000001": "alice", "214010000000002": "bob"}


def resolve(ids: Sequence[tuple[int, str]]) -> str | None:
    for kind, value in ids:
        assert kind in (E164, IMSI)
        if value in ACCOUNTS:
            return ACCOUNTS[value]
    return None


def idp(calling: Number = ALICE, called: Number = BOB, event: int = Event.COLLECTED_INFO) -> Invoke:
    arg = cap.encode_initial_dp(cap.InitialDp(100, event, calling, called, IMSI_ALICE))
    return Invoke(1, Op.INITIAL_DP, arg)


def erb(event: int, leg: int | None = None, cause: int | None = None) -> Invoke:
    arg = cap.encode_event_report_bcsm(cap.BcsmReport(event, leg, cause))
    return Invoke(2, Op.EVENT_REPORT_BCSM, arg)


def acr(tenths: int, active: bool = True) -> Invoke:
    arg = cap.encode_apply_charging_report(cap.ChargingReport(tenths, active))
    return Invoke(3, Op.APPLY_CHARGING_REPORT, arg)


def got(
    machine: CallMachine | SmsMachine, *components: Component, ended: bool = False
) -> list[Action]:
    return machine.handle(Received(components, ended))


def ops(action: Action) -> list[int]:
    assert isinstance(action, Answer)
    return [c.opcode for c in action.components if isinstance(c, Invoke)]


def arg(action: Action, op: Op) -> bytes:
    assert isinstance(action, Answer)
    for c in action.components:
        if isinstance(c, Invoke) and c.opcode == op:
            return c.argument or b""
    raise AssertionError(f"no {op.name} in {action}")


def granted(seconds: int, final: bool = False) -> Charged:
    return Charged(grant=Grant(seconds, final))


def refused(outcome: Outcome) -> Charged:
    return Charged(error=OcsError(outcome, outcome.value))


def started(version: int = 3, event: int = Event.COLLECTED_INFO) -> CallMachine:
    """A call past InitialDP, its first period granted and the switch told to go on."""
    m = CallMachine(POLICY, resolve, version)
    assert got(m, idp(event=event)) == [Ask(Step.INITIATE, 0, 300)]
    [answer] = m.handle(granted(300))
    assert ops(answer) == [Op.REQUEST_REPORT_BCSM_EVENT, Op.APPLY_CHARGING, Op.CONTINUE]
    return m


def test_a_prepaid_call_reserves_at_initial_dp_reports_each_period_and_ends_on_disconnect() -> None:
    m = CallMachine(POLICY, resolve, 3)
    assert got(m, idp()) == [Ask(Step.INITIATE, used=0, requested=300)]
    assert m.account == "alice" and m.parties is not None
    assert m.parties.other == "34600000002"  # MO: the called party is priced
    [answer] = m.handle(granted(300))
    assert isinstance(answer, Answer) and not answer.end
    charging = cap.read_apply_charging(arg(answer, Op.APPLY_CHARGING))
    assert (charging.duration, charging.release, charging.party) == (3000, False, 1)
    armed = cap.request_report_bcsm_events(arg(answer, Op.REQUEST_REPORT_BCSM_EVENT))
    assert {e for e, _, _ in armed} == {4, 5, 6, 7, 9, 10}
    assert got(m, erb(Event.O_ANSWER)) == [] and m.state is State.TALKING
    assert got(m, acr(3000)) == [Ask(Step.UPDATE, used=300, requested=300)]
    [answer] = m.handle(granted(300))
    assert ops(answer) == [Op.APPLY_CHARGING]
    assert got(m, acr(4203)) == [Ask(Step.UPDATE, used=121, requested=300)]
    m.handle(granted(300))
    actions = got(m, acr(4512, active=False), erb(Event.O_DISCONNECT, leg=1, cause=16))
    assert actions[:2] == [Ask(Step.TERMINATE, used=31), Finished("completed")]
    assert ops(actions[2]) == [Op.CONTINUE] and isinstance(actions[2], Answer) and actions[2].end
    assert m.reported == 452  # 451.2 s rounded up once, over the whole call


def test_credit_running_out_releases_the_call_with_cause_31() -> None:
    m = started()
    got(m, erb(Event.O_ANSWER))
    [ask] = got(m, acr(3000))
    assert ask == Ask(Step.UPDATE, used=300, requested=300)
    actions = m.handle(refused(Outcome.NO_CREDIT))
    assert actions[:2] == [Ask(Step.TERMINATE), Finished("no_credit", 31)]
    assert ops(actions[2]) == [Op.RELEASE_CALL] and isinstance(actions[2], Answer)
    assert actions[2].end
    assert cap.cause_value(cap.release_call(31)[2:]) == 31


def test_a_final_grant_asks_the_switch_to_release_when_it_runs_out() -> None:
    m = CallMachine(POLICY, resolve, 3)
    got(m, idp())
    [answer] = m.handle(granted(42, final=True))
    charging = cap.read_apply_charging(arg(answer, Op.APPLY_CHARGING))
    assert (charging.duration, charging.release) == (420, True)


@pytest.mark.parametrize("version", [2, 3, 4])
def test_apply_charging_takes_the_form_of_the_negotiated_version(version: int) -> None:
    m = CallMachine(POLICY, resolve, version)
    got(m, idp())
    [answer] = m.handle(granted(10, final=True))
    raw = arg(answer, Op.APPLY_CHARGING)
    assert raw == cap.apply_charging(100, True, version)
    # v2: releaseIfdurationExceeded is SEQUENCE {tone}; v3/v4: BOOLEAN
    assert (b"\xa1\x03\x01\x01\x00" in raw) == (version == 2)
    assert (b"\x81\x01\xff" in raw) == (version != 2)


def test_an_unknown_subscriber_is_released_with_cause_50_and_nothing_is_charged() -> None:
    m = CallMachine(POLICY, resolve, 3)
    actions = got(m, idp(calling=Number("34699999999", True)))
    assert actions[0] == Finished("unknown_subscriber", 50)
    assert ops(actions[1]) == [Op.RELEASE_CALL] and isinstance(actions[1], Answer)
    assert actions[1].end and not any(isinstance(a, Ask) for a in actions)


@pytest.mark.parametrize(
    ("outcome", "cause", "name"),
    [(Outcome.NO_CREDIT, 31, "no_credit"), (Outcome.ACCOUNT_DISABLED, 50, "unknown_subscriber"),
     (Outcome.UNAVAILABLE, 41, "ocs_failure"), (Outcome.BUSY, 41, "ocs_failure"),
     (Outcome.RATING_FAILED, 41, "refused")],
)  # fmt: skip
def test_a_refused_first_reservation_releases_with_the_configured_cause(
    outcome: Outcome, cause: int, name: str
) -> None:
    m = CallMachine(POLICY, resolve, 3)
    got(m, idp())
    actions = m.handle(refused(outcome))
    assert actions[0] == Finished(name, cause)  # no terminate: nothing was opened
    assert cap.cause_value(cap.release_call(cause)[2:]) == cause


def test_a_mobile_terminated_call_charges_the_called_party_and_prices_the_caller() -> None:
    ACCOUNTS["34600000002"] = "bob"
    try:
        m = CallMachine(POLICY, resolve, 3)
        got(m, idp(calling=Number("912345678", False), event=Event.TERM_ATTEMPT_AUTHORIZED))
        assert m.account == "bob" and m.parties is not None
        assert m.parties.other == "34912345678"  # national, behind the country code
        [answer] = m.handle(granted(60))
        assert cap.read_apply_charging(arg(answer, Op.APPLY_CHARGING)).party == 2
        armed = cap.request_report_bcsm_events(arg(answer, Op.REQUEST_REPORT_BCSM_EVENT))
        assert {e for e, _, _ in armed} == {13, 14, 15, 17, 18}
    finally:
        del ACCOUNTS["34600000002"]


@pytest.mark.parametrize(
    ("event", "outcome"),
    [(Event.O_CALLED_PARTY_BUSY, "busy"), (Event.O_NO_ANSWER, "no_answer"),
     (Event.O_ABANDON, "abandoned"), (Event.ROUTE_SELECT_FAILURE, "route_failure")],
)  # fmt: skip
def test_a_call_never_answered_gives_its_reservation_back(event: int, outcome: str) -> None:
    m = started()
    actions = got(m, erb(event, cause=17))
    assert actions[:2] == [Ask(Step.TERMINATE, used=0), Finished(outcome)]
    assert isinstance(actions[2], Answer) and actions[2].end


def test_the_last_report_in_a_tc_end_ends_the_charge_and_nothing_is_sent_back() -> None:
    m = started()
    got(m, erb(Event.O_ANSWER))
    actions = got(m, acr(125, active=False), erb(Event.O_DISCONNECT, leg=2), ended=True)
    assert actions == [Ask(Step.TERMINATE, used=13), Finished("completed")]


def test_a_report_while_the_previous_one_is_with_the_ocs_is_charged_in_order() -> None:
    m = started()
    got(m, erb(Event.O_ANSWER))
    got(m, acr(3000))
    actions = got(m, acr(3100, active=False), erb(Event.O_DISCONNECT, leg=1))
    assert actions[:2] == [Ask(Step.TERMINATE, used=10), Finished("completed")]
    assert m.handle(granted(300)) == []  # the late grant of a call that has ended


@pytest.mark.parametrize("timed_out", [False, True])
def test_a_lost_dialogue_ends_its_charge_with_what_was_reported(timed_out: bool) -> None:
    m = started()
    got(m, erb(Event.O_ANSWER))
    got(m, acr(600))
    m.handle(granted(300))
    actions = m.handle(Lost("gone", timed_out))
    name = "timed_out" if timed_out else "aborted"
    assert actions[:2] == [Ask(Step.TERMINATE), Finished(name)]
    assert (Abort("gone") in actions) == timed_out
    assert not any(isinstance(a, Answer) for a in actions)


def test_unknown_operations_and_unreadable_components_are_rejected_and_the_call_goes_on() -> None:
    m = started()
    actions = got(m, Invoke(9, 99, b"\x30\x00"), BadComponent(7, Problem.MISTYPED_COMPONENT, "x"),
                  Invoke(8, Op.EVENT_REPORT_BCSM, b"\x04\x01\x00"))  # fmt: skip
    [answer] = actions
    assert isinstance(answer, Answer) and not answer.end
    assert list(answer.components) == [
        Reject(9, Problem.UNRECOGNIZED_OPERATION),
        Reject(7, Problem.MISTYPED_COMPONENT),
        Reject(8, Problem.MISTYPED_PARAMETER),
    ]
    assert m.state is State.ARMED


def test_a_second_initial_dp_is_out_of_sequence() -> None:
    m = started()
    [answer] = got(m, idp())
    assert isinstance(answer, Answer)
    assert list(answer.components) == [ReturnError(1, 14)]


def test_a_malformed_initial_dp_is_rejected_and_the_dialogue_ended() -> None:
    m = CallMachine(POLICY, resolve, 3)
    actions = got(m, Invoke(1, Op.INITIAL_DP, b"\x30\x03\x83\x01\x00"))  # no serviceKey
    assert actions[0] == Finished("malformed")
    assert isinstance(actions[1], Answer) and actions[1].end
    assert list(actions[1].components) == [Reject(1, Problem.MISTYPED_PARAMETER)]


def test_the_switch_refusing_our_operation_releases_the_call() -> None:
    m = started()
    got(m, erb(Event.O_ANSWER))
    actions = got(m, Reject(2, Problem.MISTYPED_PARAMETER))
    assert actions[:2] == [Ask(Step.TERMINATE), Finished("refused_by_ssf", 41)]
    assert ops(actions[2]) == [Op.RELEASE_CALL]


def sms_idp(event: int = SmsEvent.SMS_COLLECTED_INFO) -> Invoke:
    arg = cap.encode_initial_dp_sms(cap.InitialDpSms(200, event, BOB, ALICE, IMSI_ALICE))
    return Invoke(1, Op.INITIAL_DP_SMS, arg)


def sms_report(event: int) -> Invoke:
    return Invoke(2, Op.EVENT_REPORT_SMS, cap.encode_event_report_sms(event))


def test_an_sms_reserves_a_unit_and_uses_it_when_submitted() -> None:
    m = SmsMachine(POLICY, resolve, 3)
    assert got(m, sms_idp()) == [Ask(Step.INITIATE, 0, 1)]
    [answer] = m.handle(granted(1))
    assert ops(answer) == [Op.REQUEST_REPORT_SMS_EVENT, Op.CONTINUE_SMS]
    actions = got(m, sms_report(SmsEvent.O_SMS_SUBMISSION))
    assert actions[:2] == [Ask(Step.TERMINATE, used=1), Finished("sent")]
    assert isinstance(actions[2], Answer) and actions[2].end


def test_an_sms_that_fails_uses_nothing() -> None:
    m = SmsMachine(POLICY, resolve, 4)
    got(m, sms_idp())
    m.handle(granted(1))
    actions = got(m, sms_report(SmsEvent.O_SMS_FAILURE), ended=True)
    assert actions == [Ask(Step.TERMINATE, used=0), Finished("not_sent")]


def test_an_sms_without_credit_is_released_with_its_rp_cause() -> None:
    m = SmsMachine(POLICY, resolve, 3)
    got(m, sms_idp())
    actions = m.handle(refused(Outcome.NO_CREDIT))
    assert actions[0] == Finished("no_credit", 21)
    assert arg(actions[1], Op.RELEASE_SMS) == cap.release_sms(21)


def test_a_service_key_not_served_is_released_with_the_failure_cause() -> None:
    policy = Policy("34", Causes(31, 50, 41), Causes(21, 30, 41), 300, frozenset({7}))
    m = CallMachine(policy, resolve, 3)
    actions = got(m, idp())
    assert actions[0] == Finished("unknown_service_key", 41)
    assert ops(actions[1]) == [Op.RELEASE_CALL]
