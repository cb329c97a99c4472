"""Every M3UA message exchanged in these tests (ASP management and DATA, both directions)
also goes through tshark's m3ua, sccp, tcap and camel dissectors; deliberately broken
input (which our decoders refuse, or which invokes no CAP operation) is left out."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from omnigw.camel.cap.codec import Op
from omnigw.camel.m3ua import codec as m3ua
from omnigw.camel.sccp import codec as sccp
from omnigw.camel.tcap import codec as tcap
from omnigw.transport.delimited import DelimitedTcp
from tests.support import tshark

EXCHANGED: list[bytes] = []


OPCODES = frozenset(Op)


def _well_formed(data: bytes) -> bool:
    """Not one of the tests' broken messages (unreadable, or invoking no CAP operation)."""
    try:
        payload = m3ua.decode(data).protocol_data
        if payload is None:
            return True
        msg = tcap.decode(sccp.decode(payload.data).data)
    except ValueError:
        return False
    return all(c.opcode in OPCODES for c in msg.components if isinstance(c, tcap.Invoke))


@pytest.fixture(scope="session", autouse=True)
def m3ua_messages_pass_tshark() -> Iterator[None]:
    original = DelimitedTcp.send

    def record(self: DelimitedTcp, data: bytes, stream: int, ppid: int) -> None:
        if ppid == m3ua.PPID and _well_formed(data):
            EXCHANGED.append(data)
        original(self, data, stream, ppid)

    DelimitedTcp.send = record  # type: ignore[method-assign]
    yield
    DelimitedTcp.send = original  # type: ignore[method-assign]
    if not EXCHANGED:
        return
    tshark.assert_clean(EXCHANGED, "sctp.ppi", m3ua.PPID, "m3ua.message_type", "M3UA messages")
