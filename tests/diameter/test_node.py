"""The node over real TCP with our own codec as the client: dispatch and error answers."""

from __future__ import annotations

import asyncio
from ipaddress import ip_address

from prometheus_client import REGISTRY

from omnigw.diameter.codec import FLAG_ERROR, FLAG_REQUEST, Avp, Message, decode, encode
from omnigw.diameter.node import DiameterNode
from omnigw.diameter.peer import (
    AUTH_APPLICATION_ID,
    CER,
    ORIGIN_HOST,
    ORIGIN_REALM,
    RESULT_CODE,
    Identity,
    Policy,
)
from tests.support.ports import free_port

IDENTITY = Identity("ocs.example.net", "example.net", (ip_address("127.0.0.1"),), state_id=3)


async def _exchange(
    writer: asyncio.StreamWriter, reader: asyncio.StreamReader, msg: Message
) -> Message:
    writer.write(encode(msg))
    head = await reader.readexactly(4)
    rest = await reader.readexactly(int.from_bytes(head[1:4], "big") - 4)
    return decode(head + rest)


async def test_requests_reach_their_application_or_get_3007() -> None:
    async def echo(request: Message) -> Message:
        return request.answer([Avp.of_u32(RESULT_CODE, 2001)])

    port = free_port()
    node = DiameterNode(
        IDENTITY, Policy(frozenset({"pgw.test"}), frozenset()), "127.0.0.1", port, {4: echo}
    )
    await node.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        cea = await _exchange(writer, reader, Message(CER, 0, 1, 1, FLAG_REQUEST, [
            Avp.of_text(ORIGIN_HOST, "pgw.test"), Avp.of_text(ORIGIN_REALM, "test"),
            Avp.of_u32(AUTH_APPLICATION_ID, 4)]))  # fmt: skip
        assert cea.find(RESULT_CODE).u32() == 2001  # type: ignore[union-attr]
        answer = await _exchange(writer, reader, Message(272, 4, 2, 2, FLAG_REQUEST, []))
        assert answer.find(RESULT_CODE).u32() == 2001 and answer.hop_by_hop == 2  # type: ignore[union-attr]
        other = await _exchange(writer, reader, Message(316, 16777251, 3, 3, FLAG_REQUEST, []))
        assert other.find(RESULT_CODE).u32() == 3007 and other.flags & FLAG_ERROR  # type: ignore[union-attr]
        # garbage that cannot be framed closes the connection
        writer.write(b"\x07" + b"\x00" * 19)
        assert await reader.read() == b""
    finally:
        writer.close()
        await node.stop(grace=1)


async def test_a_peer_that_does_not_read_its_answers_stops_being_read() -> None:
    """Back-pressure: past the write buffer's high mark we stop reading the peer's requests,
    so its unread answers cannot grow without bound; reading resumes once it reads."""

    async def echo(request: Message) -> Message:
        return request.answer([Avp.of_u32(RESULT_CODE, 2001), Avp(1, b"x" * 200)])

    port = free_port()
    node = DiameterNode(
        IDENTITY, Policy(frozenset({"pgw.test"}), frozenset()), "127.0.0.1", port, {4: echo}
    )
    await node.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    paused = (
        REGISTRY.get_sample_value("omnigw_link_writes_paused_total", {"interface": "diameter"})
        or 0.0
    )
    try:
        await _exchange(writer, reader, Message(CER, 0, 1, 1, FLAG_REQUEST, [
            Avp.of_text(ORIGIN_HOST, "pgw.test"), Avp.of_text(ORIGIN_REALM, "test"),
            Avp.of_u32(AUTH_APPLICATION_ID, 4)]))  # fmt: skip
        request = encode(Message(272, 4, 2, 2, FLAG_REQUEST, [Avp(1, b"r" * 1000)]))
        sent = 0
        for _ in range(2_000):  # bounded: the server stops reading long before this
            writer.write(request * 100)
            sent += 100
            try:
                await asyncio.wait_for(writer.drain(), 0.5)
            except TimeoutError:
                break  # our sends no longer drain: the server has stopped reading us
        else:
            raise AssertionError("the server kept reading a peer that reads nothing")
        assert (
            REGISTRY.get_sample_value("omnigw_link_writes_paused_total", {"interface": "diameter"})
            == paused + 1
        )
        [link] = node.peers.values()
        assert link._transport is not None
        assert link._transport.get_write_buffer_size() < 2 * 1024 * 1024  # bounded
        answered = 0
        while answered < sent:  # now we read: the server resumes and answers everything
            head = await asyncio.wait_for(reader.readexactly(4), 10)
            await reader.readexactly(int.from_bytes(head[1:4], "big") - 4)
            answered += 1
    finally:
        writer.close()
        await node.stop(grace=1)
