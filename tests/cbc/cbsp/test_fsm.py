"""The CBSP link machine, driven by events with no sockets: RESET, keep-alive, probes,
and the rate of ERROR INDICATIONs."""

from __future__ import annotations

from omnigw.cbc.cbsp.codec import Cause, DecodeError, MsgType, Pdu, Summary
from omnigw.cbc.cbsp.fsm import (
    KEEPALIVE,
    KEEPALIVE_ANSWER,
    RESET_ANSWER,
    Answered,
    Connected,
    Deliver,
    DeliverAnswer,
    LinkFsm,
    Malformed,
    Probe,
    ProtocolError,
    Received,
    Send,
    State,
    Up,
)
from omnigw.machine import CancelTimer, Close, StartTimer, TimerExpired


def up() -> LinkFsm:
    fsm = LinkFsm(keepalive=30, keepalive_timeout=10, reset_timeout=5)
    assert Up() in fsm.handle(Connected(reset=False))
    return fsm


def sent(actions: list[object]) -> list[Pdu]:
    return [a.pdu for a in actions if isinstance(a, Send)]


def test_a_reset_is_sent_on_connect_and_its_answer_brings_the_link_up() -> None:
    fsm = LinkFsm(30, 10, 5)
    actions = fsm.handle(Connected(reset=True))
    assert [p.type for p in sent(actions)] == [MsgType.RESET] and fsm.state is State.RESETTING
    assert Up() in fsm.handle(Received(Pdu(MsgType.RESET_COMPLETE)))
    assert fsm.state is State.UP


def test_a_probe_sends_a_keep_alive_now_and_an_unanswered_one_closes_the_link() -> None:
    fsm = up()
    actions = fsm.handle(Probe())
    assert CancelTimer(KEEPALIVE) in actions and StartTimer(KEEPALIVE_ANSWER, 10) in actions
    assert [p.type for p in sent(actions)] == [MsgType.KEEP_ALIVE]
    assert fsm.handle(Probe()) == []  # one KEEP-ALIVE out at a time
    assert isinstance(fsm.handle(TimerExpired(KEEPALIVE_ANSWER))[0], Close)


def test_an_answered_probe_leaves_the_link_up() -> None:
    fsm = up()
    fsm.handle(Probe())
    actions = fsm.handle(Received(Pdu(MsgType.KEEP_ALIVE_COMPLETE)))
    assert actions == [CancelTimer(KEEPALIVE_ANSWER), StartTimer(KEEPALIVE, 30)]
    assert [p.type for p in sent(fsm.handle(Probe()))] == [MsgType.KEEP_ALIVE]  # again later


def test_a_flood_of_malformed_pdus_gets_a_bounded_number_of_error_indications() -> None:
    fsm = up()
    error = DecodeError(Cause.UNRECOGNISED_MESSAGE, "bad")
    answered = [bool(sent(fsm.handle(Malformed(error, at=100.0)))) for _ in range(50)]
    assert answered == [True] * 10 + [False] * 40  # a burst of ten, then quiet
    counted = fsm.handle(Malformed(error, at=100.0))
    assert counted == [ProtocolError(int(Cause.UNRECOGNISED_MESSAGE), "bad", answered=False)]
    assert sent(fsm.handle(Malformed(error, at=101.5)))  # one more a second
    assert not sent(fsm.handle(Malformed(error, at=101.6)))


def test_the_keep_alive_timer_sends_a_keep_alive_and_waits_for_its_answer() -> None:
    fsm = up()
    actions = fsm.handle(TimerExpired(KEEPALIVE))
    assert [p.type for p in sent(actions)] == [MsgType.KEEP_ALIVE]
    assert StartTimer(KEEPALIVE_ANSWER, 10) in actions


def test_an_unanswered_reset_closes_the_link() -> None:
    fsm = LinkFsm(30, 10, 5)
    fsm.handle(Connected(reset=True))
    [close] = fsm.handle(TimerExpired(RESET_ANSWER))
    assert isinstance(close, Close) and fsm.state is State.CLOSED


def test_a_reset_failure_still_brings_the_link_up_and_is_handed_on() -> None:
    """RESET FAILURE names cells that could not be reset; the link works."""
    fsm = LinkFsm(30, 10, 5)
    fsm.handle(Connected(reset=True))
    failure = Pdu(MsgType.RESET_FAILURE)
    actions = fsm.handle(Received(failure))
    assert actions[:2] == [CancelTimer(RESET_ANSWER), Deliver(failure)] and Up() in actions


def test_the_peers_keep_alive_is_answered() -> None:
    fsm = up()
    assert [p.type for p in sent(fsm.handle(Received(Pdu(MsgType.KEEP_ALIVE))))] == [
        MsgType.KEEP_ALIVE_COMPLETE
    ]


def test_every_other_pdu_and_every_answer_goes_up() -> None:
    fsm = up()
    for kind in (MsgType.RESTART, MsgType.ERROR_INDICATION, MsgType.FAILURE):
        assert fsm.handle(Received(Pdu(kind))) == [Deliver(Pdu(kind))]
    answer = bytes([MsgType.WRITE_REPLACE_COMPLETE, 0, 0, 0])
    summary = Summary(MsgType.WRITE_REPLACE_COMPLETE, 4353, 1, None)
    assert fsm.handle(Answered(summary, answer)) == [DeliverAnswer(summary, answer)]


def test_a_closed_link_ignores_everything() -> None:
    fsm = up()
    fsm.handle(Probe())
    fsm.handle(TimerExpired(KEEPALIVE_ANSWER))
    assert fsm.state is State.CLOSED
    for event in (Received(Pdu(MsgType.KEEP_ALIVE)), Probe(), TimerExpired(KEEPALIVE),
                  Connected(reset=True)):  # fmt: skip
        assert fsm.handle(event) == []
