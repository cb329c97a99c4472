"""The SBc-AP link machine as a specification, without sockets: what each PDU an MME sends
becomes, what is refused with an Error-Indication, and what is odd but accepted."""

from __future__ import annotations

from omnigw.cbc.sbcap import aper
from omnigw.cbc.sbcap.causes import Cause
from omnigw.cbc.sbcap.codec import (
    DecodeError,
    Ecgi,
    EnbId,
    ErrorIndication,
    PwsRestartIndication,
    StopWarningResponse,
    Tai,
    WriteReplaceWarningIndication,
    WriteReplaceWarningRequest,
    WriteReplaceWarningResponse,
    decode,
    encode,
    off_spec,
)
from omnigw.cbc.sbcap.fsm import (
    Connected,
    Deliver,
    DeliverAnswer,
    LinkFsm,
    Malformed,
    Oddity,
    ProtocolError,
    Received,
    Send,
    State,
    Up,
)

TAI = Tai("901-70", 1)


def _received(pdu: object, stream: int = 0, ppid: int = 24, at: float = 0.0) -> Received:
    return Received(pdu, encode(pdu), stream, ppid, at)  # type: ignore[arg-type]


def test_the_association_coming_up_is_the_link_up() -> None:
    fsm = LinkFsm(stream=0)
    assert fsm.handle(Connected()) == [Up()]
    assert fsm.state is State.UP


def test_responses_go_to_the_engine_with_their_frame() -> None:
    fsm = LinkFsm(stream=0)
    for pdu in (WriteReplaceWarningResponse(4370, 0x3001, 0), StopWarningResponse(4370, 0x3001, 3)):
        event = _received(pdu)
        assert fsm.handle(event) == [DeliverAnswer(pdu, event.frame)]  # type: ignore[arg-type]


def test_indications_and_error_indications_go_up() -> None:
    fsm = LinkFsm(stream=0)
    restart = PwsRestartIndication((Ecgi("901-70", 5),), EnbId("901-70", "macroENB-ID", 1), (TAI,))
    for pdu in (WriteReplaceWarningIndication(4370, 1), restart, ErrorIndication(cause=12)):
        event = _received(pdu)
        assert fsm.handle(event) == [Deliver(pdu, event.frame)]  # type: ignore[arg-type]


def test_a_request_only_a_cbc_sends_gets_an_error_indication() -> None:
    fsm = LinkFsm(stream=0)
    actions = fsm.handle(_received(WriteReplaceWarningRequest(4370, 1, 60, 0, tais=(TAI,))))
    cause = Cause.MESSAGE_NOT_COMPATIBLE_WITH_RECEIVER_STATE
    assert actions[0] == Send(ErrorIndication(cause=cause))
    assert isinstance(actions[1], ProtocolError) and actions[1].cause == cause


def test_a_missing_mandatory_ie_gets_an_error_indication_naming_it() -> None:
    # A response without its Cause: the framing is fine, the PDU is not.
    kind, code, ies = aper.read_pdu(encode(WriteReplaceWarningResponse(4370, 1, 0)))
    broken = aper.pdu(kind, code, "reject", [(i, "reject", v) for i, v in ies if i != 1])
    try:
        decode(broken)
        raise AssertionError("decoded a response without its Cause")
    except DecodeError as exc:
        error = exc
    actions = LinkFsm(stream=0).handle(Malformed(error, 0.0))
    assert actions[0] == Send(ErrorIndication(cause=Cause.MISSING_MANDATORY_ELEMENT))


def test_an_undecodable_error_indication_is_not_answered() -> None:
    error = DecodeError("Cause: bad", procedure="Error-Indication")
    actions = LinkFsm(stream=0).handle(Malformed(error, 0.0))
    assert not any(isinstance(a, Send) for a in actions)
    assert isinstance(actions[0], ProtocolError)


def test_a_flood_of_garbage_is_answered_in_a_burst_then_only_counted() -> None:
    fsm = LinkFsm(stream=0)
    error = DecodeError("not an SBc-AP PDU")
    answered = [any(isinstance(a, Send) for a in fsm.handle(Malformed(error, 0.0)))
                for _ in range(15)]  # fmt: skip
    assert answered == [True] * 10 + [False] * 5
    # a second later there is room for one more answer
    assert any(isinstance(a, Send) for a in fsm.handle(Malformed(error, 1.0)))


def test_another_ppid_or_stream_is_accepted_and_said_once() -> None:
    fsm = LinkFsm(stream=0)
    pdu = WriteReplaceWarningResponse(4370, 1, 0)
    first = fsm.handle(_received(pdu, stream=1, ppid=0))
    assert first[:2] == [Oddity("PPID 0 instead of 24"), Oddity("stream 1 instead of 0")]
    assert isinstance(first[2], DeliverAnswer)
    again = fsm.handle(_received(pdu, stream=1, ppid=0))
    assert len(again) == 1 and isinstance(again[0], DeliverAnswer)


def test_an_ie_marked_with_another_criticality_is_read_and_said_once() -> None:
    kind, code, ies = aper.read_pdu(encode(WriteReplaceWarningResponse(4370, 1, 0)))
    marked = aper.pdu(kind, code, "reject",
                      [(i, "ignore" if i == 1 else "reject", v) for i, v in ies])  # fmt: skip
    pdu = decode(marked)
    odd = tuple(off_spec(pdu, marked))
    assert odd == ("Cause marked ignore instead of reject",)
    fsm = LinkFsm(stream=0)
    first = fsm.handle(Received(pdu, marked, 0, 24, 0.0, odd))
    assert first == [Oddity(odd[0]), DeliverAnswer(pdu, marked)]  # type: ignore[arg-type]
    assert fsm.handle(Received(pdu, marked, 0, 24, 0.0, odd)) == [DeliverAnswer(pdu, marked)]  # type: ignore[arg-type]
    assert off_spec(pdu, encode(pdu)) == []
