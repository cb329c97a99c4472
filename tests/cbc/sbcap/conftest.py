"""Every SBc-AP PDU exchanged in these tests (both directions) also goes through tshark's
dissector; deliberately broken input, which our decoder refuses, is left out."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from omnigw.cbc.sbcap.codec import PPID, DecodeError, decode
from omnigw.transport.framed import FramedTcp
from tests.support import tshark

EXCHANGED: list[bytes] = []


@pytest.fixture(scope="session", autouse=True)
def sbcap_pdus_pass_tshark() -> Iterator[None]:
    original = FramedTcp.send

    def record(self: FramedTcp, data: bytes, stream: int, ppid: int) -> None:
        if ppid == PPID:
            try:
                decode(data)
                EXCHANGED.append(data)
            except DecodeError:
                pass
        original(self, data, stream, ppid)

    FramedTcp.send = record  # type: ignore[method-assign]
    yield
    FramedTcp.send = original  # type: ignore[method-assign]
    if not EXCHANGED:
        return
    tshark.assert_clean(EXCHANGED, "sctp.ppi", PPID, "sbc-ap.procedureCode", "SBc-AP PDUs")
