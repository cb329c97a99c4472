"""M3UA's codec and the ASP machine as a specification, without sockets; every message the
codec writes is read by tshark's M3UA dissector as meant; M3UA over TCP delimited by its
own lengths."""

from __future__ import annotations

from typing import Any

import pytest

from omnigw.camel.m3ua.codec import (
    ASPAC,
    ASPAC_ACK,
    ASPUP,
    ASPUP_ACK,
    BEAT,
    BEAT_ACK,
    DATA,
    DAVA,
    DUNA,
    ERR,
    PPID,
    DecodeError,
    ErrorCode,
    ProtocolData,
    Tag,
    TrafficMode,
    decode,
    encode,
    message,
    u32,
)
from omnigw.camel.m3ua.fsm import (
    ACK,
    HEARTBEAT,
    HEARTBEAT_ACK,
    Active,
    AspFsm,
    Connected,
    Deliver,
    Malformed,
    Reachability,
    Received,
    Refused,
    Send,
    State,
    Transfer,
)
from omnigw.camel.m3ua.link import over_tcp
from omnigw.machine import CancelTimer, Close, StartTimer, TimerExpired
from omnigw.transport.delimited import DelimitedTcp
from tests.support import tshark

# An SCCP UDT: type, class, pointers; called and calling party (route on SSN, PC, SSN 254);
# three octets of data
UDT = bytes.fromhex("090003070b" "0443c800fe" "0443" "6400fe" "03" "010203")  # fmt: skip
SCCP = ProtocolData(opc=100, dpc=200, si=3, ni=2, mp=0, sls=5, data=UDT)


def _active(streams: int = 3) -> AspFsm:
    fsm = AspFsm(routing_context=7, heartbeat=30.0)
    fsm.handle(Connected(streams))
    fsm.handle(Received(message(ASPUP_ACK), 0))
    fsm.handle(Received(message(ASPAC_ACK), 0))
    assert fsm.state is State.ACTIVE
    return fsm


def test_messages_round_trip_with_padding() -> None:
    msg = message(DATA, (Tag.ROUTING_CONTEXT, u32(7)), (Tag.PROTOCOL_DATA, SCCP.encode()))
    wire = encode(msg)
    assert len(wire) % 4 == 0 and decode(wire) == msg
    assert decode(wire).protocol_data == SCCP


@pytest.mark.parametrize(
    ("wire", "code"),
    [(bytes(4), ErrorCode.PROTOCOL_ERROR),
     (bytes([2, 0, 3, 1, 0, 0, 0, 8]), ErrorCode.INVALID_VERSION),
     (bytes([1, 0, 7, 1, 0, 0, 0, 8]), ErrorCode.UNSUPPORTED_MESSAGE_CLASS),
     (bytes([1, 0, 3, 1, 0, 0, 0, 12, 0, 6, 0, 9]), ErrorCode.PARAMETER_FIELD_ERROR)],
)  # fmt: skip
def test_what_is_not_m3ua_is_refused_with_the_error_to_answer(wire: bytes, code: int) -> None:
    with pytest.raises(DecodeError) as refused:
        decode(wire)
    assert refused.value.code == code


def test_the_asp_comes_up_then_active_with_its_routing_context() -> None:
    fsm = AspFsm(routing_context=7, heartbeat=30.0)
    assert fsm.handle(Connected(3)) == [Send(message(ASPUP)), StartTimer(ACK, 2.0)]
    activate = message(ASPAC, (Tag.TRAFFIC_MODE, u32(TrafficMode.LOADSHARE)),
                       (Tag.ROUTING_CONTEXT, u32(7)))  # fmt: skip
    assert fsm.handle(Received(message(ASPUP_ACK), 0)) == [
        CancelTimer(ACK), Send(activate), StartTimer(ACK, 2.0)]  # fmt: skip
    assert fsm.handle(Received(message(ASPAC_ACK), 0)) == [
        CancelTimer(ACK), Active(), StartTimer(HEARTBEAT, 30.0)]  # fmt: skip


def test_an_unanswered_aspup_is_sent_again_then_the_association_closed() -> None:
    fsm = AspFsm(routing_context=None, attempts=3)
    fsm.handle(Connected(2))
    assert fsm.handle(TimerExpired(ACK)) == [Send(message(ASPUP)), StartTimer(ACK, 2.0)]
    fsm.handle(TimerExpired(ACK))
    [close] = fsm.handle(TimerExpired(ACK))
    assert isinstance(close, Close) and "ASPUP" in close.reason


def test_data_flows_only_when_active_and_never_on_stream_0() -> None:
    fsm = AspFsm(routing_context=7)
    assert isinstance(fsm.handle(Transfer(SCCP))[0], Refused)
    fsm = _active(streams=3)
    [send] = fsm.handle(Transfer(SCCP))
    assert isinstance(send, Send) and send.stream == 1 + SCCP.sls % 2
    assert send.msg.protocol_data == SCCP and send.msg.routing_contexts == (7,)
    received = message(DATA, (Tag.PROTOCOL_DATA, SCCP.encode()))
    assert fsm.handle(Received(received, 1)) == [Deliver(SCCP)]


def test_data_before_active_gets_an_err() -> None:
    fsm = AspFsm(routing_context=7)
    fsm.handle(Connected(2))
    actions = fsm.handle(Received(message(DATA, (Tag.PROTOCOL_DATA, SCCP.encode())), 1))
    assert actions[0] == Send(message(ERR, (Tag.ERROR_CODE, u32(ErrorCode.UNEXPECTED_MESSAGE))))


def test_heartbeats_both_ways() -> None:
    fsm = _active()
    beat = message(BEAT, (Tag.HEARTBEAT_DATA, b"sgp-beat"))
    assert fsm.handle(Received(beat, 0)) == [Send(message(BEAT_ACK, (Tag.HEARTBEAT_DATA,
                                                                       b"sgp-beat")))]  # fmt: skip
    sent, timer = fsm.handle(TimerExpired(HEARTBEAT))
    assert (
        isinstance(sent, Send)
        and sent.msg.kind == BEAT
        and timer == StartTimer(HEARTBEAT_ACK, 10.0)
    )
    echo = message(BEAT_ACK, *sent.msg.params.items())
    assert fsm.handle(Received(echo, 0)) == [
        CancelTimer(HEARTBEAT_ACK),
        StartTimer(HEARTBEAT, 30.0),
    ]
    fsm.handle(TimerExpired(HEARTBEAT))
    [close] = fsm.handle(TimerExpired(HEARTBEAT_ACK))
    assert isinstance(close, Close)


def test_destination_availability_is_tracked() -> None:
    fsm = _active()
    duna = message(DUNA, (Tag.AFFECTED_POINT_CODE, u32(200, 300)))
    assert fsm.handle(Received(duna, 0)) == [Reachability((200, 300), False)]
    assert fsm.unavailable == {200, 300}
    fsm.handle(Received(message(DAVA, (Tag.AFFECTED_POINT_CODE, u32(200))), 0))
    assert fsm.unavailable == {300}


def test_an_err_from_the_sgp_is_reported_and_a_malformed_message_answered() -> None:
    fsm = _active()
    err = message(ERR, (Tag.ERROR_CODE, u32(ErrorCode.INVALID_ROUTING_CONTEXT)))
    assert fsm.handle(Received(err, 0)) == [
        Refused("ERR invalid_routing_context", False, "invalid_routing_context")
    ]
    actions = fsm.handle(Malformed(DecodeError("bad", ErrorCode.INVALID_VERSION)))
    assert actions[0] == Send(message(ERR, (Tag.ERROR_CODE, u32(ErrorCode.INVALID_VERSION))))


def test_tshark_reads_every_message_the_codec_writes() -> None:
    msgs = [
        message(ASPUP), message(ASPAC, (Tag.TRAFFIC_MODE, u32(2)), (Tag.ROUTING_CONTEXT, u32(7))),
        message(BEAT, (Tag.HEARTBEAT_DATA, b"12345")),
        message(DATA, (Tag.ROUTING_CONTEXT, u32(7)), (Tag.PROTOCOL_DATA, SCCP.encode())),
        message(ERR, (Tag.ERROR_CODE, u32(ErrorCode.UNEXPECTED_MESSAGE))),
        message(DUNA, (Tag.AFFECTED_POINT_CODE, u32(200))),
    ]  # fmt: skip
    rows = tshark.upper_pdu_fields([encode(m) for m in msgs], "sctp.ppi", PPID,
                                   ["m3ua.message_class", "m3ua.message_type",
                                    "m3ua.protocol_data_opc", "m3ua.routing_context"])  # fmt: skip
    assert len(rows) == len(msgs)
    for msg, row in zip(msgs, rows, strict=True):
        assert not row["_ws.malformed"] and not row["_ws.expert.message"], (msg, row)
        assert row["m3ua.message_class"] == [str(msg.kind[0])]
        assert row["m3ua.message_type"] == [str(msg.kind[1])]
    assert rows[3]["m3ua.protocol_data_opc"] == ["100"] and rows[3]["m3ua.routing_context"] == ["7"]


class _Upper:
    """A user of the transport that answers every message it is handed."""

    def __init__(self) -> None:
        self.got: list[tuple[bytes, int, int]] = []
        self.transport: DelimitedTcp | None = None

    def connection_made(self, transport: Any) -> None:
        pass

    def message_received(self, data: bytes, stream: int, ppid: int) -> None:
        self.got.append((data, stream, ppid))
        assert self.transport is not None
        self.transport.send(b"answer:" + data[:4], 1, PPID)

    def connection_lost(self, exc: Exception | None) -> None:
        pass

    def writable(self, writable: bool) -> None:
        pass


class _Socket:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.aborted

    def abort(self) -> None:
        self.aborted = True


def test_m3ua_over_tcp_is_delimited_by_its_own_length_and_answered_in_one_write() -> None:
    upper = _Upper()
    link = over_tcp(upper)
    upper.transport = link
    socket = _Socket()
    link._transport = socket  # type: ignore[assignment]  # as connection_made would set it
    a, b = encode(message(ASPUP)), encode(message(DATA, (Tag.PROTOCOL_DATA, SCCP.encode())))
    stream = a + b + a
    link.data_received(stream[:3])  # less than a header
    link.data_received(stream[3 : len(a) + 5])  # the first message, and some of the second
    assert [m for m, _, _ in upper.got] == [a] and socket.writes == [b"answer:" + a[:4]]
    link.data_received(stream[len(a) + 5 :])  # the rest: two messages, one write
    assert [m for m, _, _ in upper.got] == [a, b, a]
    assert all(s == 0 and p == PPID for _, s, p in upper.got) and link.streams == 1
    assert socket.writes[1] == b"answer:" + b[:4] + b"answer:" + a[:4]
    link.data_received(b"\x01\x00\x01\x01\x00\x00\x00\x02")  # a length shorter than a header
    assert socket.aborted
