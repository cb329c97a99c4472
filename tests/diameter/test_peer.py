"""The Diameter peer state machine, driven by events (no sockets)."""

from __future__ import annotations

from ipaddress import ip_address

from omnigw.diameter.codec import (
    FLAG_ERROR,
    FLAG_REQUEST,
    INVALID_AVP_LENGTH,
    Avp,
    DecodeError,
    Message,
)
from omnigw.diameter.peer import (
    AUTH_APPLICATION_ID,
    CER,
    CER_WAIT,
    DPA_WAIT,
    DPR,
    DWR,
    FAILED_AVP,
    NO_COMMON_APPLICATION,
    ORIGIN_HOST,
    ORIGIN_REALM,
    RESULT_CODE,
    SUCCESS,
    UNKNOWN_PEER,
    VENDOR_SPECIFIC_APPLICATION_ID,
    WATCHDOG,
    Connected,
    Deliver,
    Identity,
    Malformed,
    Opened,
    PeerFsm,
    Policy,
    Received,
    Rejected,
    Send,
    Shutdown,
    State,
)
from omnigw.machine import Close, StartTimer, TimerExpired

US = Identity("omnigw.example.net", "example.net", (ip_address("127.0.0.1"),), state_id=7)
POLICY = Policy(frozenset({"pgw.example.net"}), frozenset({"trusted.example"}), 30.0)


def fsm() -> PeerFsm:
    return PeerFsm(US, POLICY, jitter=lambda: 1.5)


def cer(
    host: str = "pgw.example.net", realm: str = "example.net", apps: list[Avp] | None = None
) -> Message:
    avps = [Avp.of_text(ORIGIN_HOST, host), Avp.of_text(ORIGIN_REALM, realm)]
    avps += apps if apps is not None else [Avp.of_u32(AUTH_APPLICATION_ID, 4)]
    return Message(CER, 0, 1, 2, FLAG_REQUEST, avps)


def sent(actions: list[object]) -> list[Message]:
    return [a.message for a in actions if isinstance(a, Send)]


def result(message: Message) -> int:
    avp = message.find(RESULT_CODE)
    assert avp is not None
    return avp.u32()


def opened() -> PeerFsm:
    peer = fsm()
    peer.handle(Connected())
    peer.handle(Received(cer()))
    assert peer.state is State.OPEN
    return peer


def test_cer_from_an_allowed_peer_opens() -> None:
    peer = fsm()
    assert peer.handle(Connected()) == [StartTimer(CER_WAIT, 10.0)]
    actions = peer.handle(Received(cer()))
    [cea] = sent(actions)
    assert result(cea) == SUCCESS and not cea.is_request and cea.command == CER
    assert cea.find(ORIGIN_HOST).text() == "omnigw.example.net"  # type: ignore[union-attr]
    assert Opened("pgw.example.net", "example.net") in actions
    assert StartTimer(WATCHDOG, 31.5) in actions  # Tw + jitter


def test_allowed_realm_is_enough_and_vendor_specific_apps_count() -> None:
    peer = fsm()
    vsai = Avp.of_group(VENDOR_SPECIFIC_APPLICATION_ID,
                        [Avp.of_u32(266, 10415), Avp.of_u32(AUTH_APPLICATION_ID, 4)])  # fmt: skip
    actions = peer.handle(Received(cer("x.trusted.example", "trusted.example", [vsai])))
    assert result(sent(actions)[0]) == SUCCESS


def test_unknown_peer_gets_3010_and_is_closed() -> None:
    peer = fsm()
    actions = peer.handle(Received(cer("evil.example.org", "evil.example.org")))
    assert result(sent(actions)[0]) == UNKNOWN_PEER
    assert Rejected("evil.example.org", UNKNOWN_PEER) in actions
    assert any(isinstance(a, Close) for a in actions) and peer.state is State.CLOSED


def test_no_common_application_gets_5010() -> None:
    actions = fsm().handle(Received(cer(apps=[Avp.of_u32(AUTH_APPLICATION_ID, 16777251)])))
    assert result(sent(actions)[0]) == NO_COMMON_APPLICATION


def test_anything_before_cer_closes() -> None:
    peer = fsm()
    assert isinstance(peer.handle(Received(Message(272, 4, 1, 2, FLAG_REQUEST, [])))[0], Close)
    peer = fsm()
    peer.handle(Connected())
    assert peer.handle(TimerExpired(CER_WAIT)) == [Close("no CER in time")]


def test_watchdog_suspect_then_close_and_recovery() -> None:
    peer = opened()
    [dwr] = sent(peer.handle(TimerExpired(WATCHDOG)))
    assert dwr.command == DWR and dwr.is_request
    peer.handle(Received(dwr.answer([Avp.of_u32(RESULT_CODE, SUCCESS)])))
    assert peer.state is State.OPEN
    assert sent(peer.handle(TimerExpired(WATCHDOG))) == []  # the DWA counted as traffic
    assert [m.command for m in sent(peer.handle(TimerExpired(WATCHDOG)))] == [DWR]
    peer.handle(TimerExpired(WATCHDOG))  # no DWA: suspect
    assert peer.state is State.SUSPECT
    peer.handle(Received(Message(272, 4, 5, 6, FLAG_REQUEST, [])))  # traffic revives it
    assert peer.state is State.OPEN
    assert sent(peer.handle(TimerExpired(WATCHDOG))) == []  # busy link: no DWR this time
    # Idle again with the DWA still missing: suspect, then closed.
    actions = peer.handle(TimerExpired(WATCHDOG))
    assert peer.state is State.SUSPECT and not any(isinstance(a, Close) for a in actions)
    assert isinstance(peer.handle(TimerExpired(WATCHDOG))[0], Close)


def test_peer_dwr_is_answered() -> None:
    peer = opened()
    [dwa] = sent(peer.handle(Received(Message(DWR, 0, 9, 9, FLAG_REQUEST, []))))
    assert result(dwa) == SUCCESS and not dwa.is_request


def test_application_messages_are_delivered_only_when_open() -> None:
    peer = opened()
    ccr = Message(272, 4, 3, 4, FLAG_REQUEST, [])
    assert peer.handle(Received(ccr)) == [Deliver(ccr)]


def test_dpr_both_ways() -> None:
    peer = opened()
    actions = peer.handle(Received(Message(DPR, 0, 1, 1, FLAG_REQUEST, [])))
    assert result(sent(actions)[0]) == SUCCESS and isinstance(actions[-1], Close)
    peer = opened()
    actions = peer.handle(Shutdown())
    [dpr] = sent(actions)
    assert dpr.command == DPR and StartTimer(DPA_WAIT, 5.0) in actions
    assert peer.handle(Received(Message(272, 4, 3, 4, FLAG_REQUEST, []))) == []  # draining
    assert peer.handle(Received(dpr.answer([Avp.of_u32(RESULT_CODE, SUCCESS)]))) == [
        Close("DPA received")
    ]


def test_malformed_request_is_answered_with_e_bit_and_failed_avp() -> None:
    peer = opened()
    bad = Avp(416, b"\x00")
    request = Message(272, 4, 3, 4, FLAG_REQUEST, [])
    actions = peer.handle(Malformed(DecodeError(INVALID_AVP_LENGTH, "short", bad), request))
    [answer] = sent(actions)
    assert result(answer) == INVALID_AVP_LENGTH
    assert not answer.flags & FLAG_ERROR  # 5xxx: no E bit
    assert answer.find(FAILED_AVP).group()[0].code == 416  # type: ignore[union-attr]
    actions = peer.handle(Malformed(DecodeError(3008, "bits"), request))
    assert sent(actions)[0].flags & FLAG_ERROR  # 3xxx: E bit


def test_a_second_cer_on_an_open_link_gets_a_cea_and_the_link_stays_open() -> None:
    """RFC 6733 5.6: I-Open/R-Open, Rcv-CER -> Snd-CEA."""
    peer = opened()
    [cea] = sent(peer.handle(Received(cer())))
    assert result(cea) == SUCCESS and peer.state is State.OPEN
    [refused] = sent(peer.handle(Received(cer("intruder.example.net"))))
    assert result(refused) == UNKNOWN_PEER and peer.state is State.OPEN
