"""The MME simulator's shortcut: indications around lists encoded once are the octets the
codec makes of the same indications."""

from __future__ import annotations

from omnigw.cbc.sbcap.codec import (
    CellReport,
    Ecgi,
    StopWarningIndication,
    WriteReplaceWarningIndication,
    encode,
)
from omnigw.sim.mme import _cell_list, _indication


def test_pre_encoded_indications_are_the_codecs() -> None:
    cells = [Ecgi("901-70", i * 7919) for i in range(1000)]
    scheduled = tuple(CellReport(c.plmn, c.eci) for c in cells)
    stopped = tuple(CellReport(c.plmn, c.eci, 1) for c in cells)
    assert _indication(3, 4370, 0x3011, _cell_list(cells, False)) == encode(
        WriteReplaceWarningIndication(4370, 0x3011, scheduled)
    )
    assert _indication(4, 4370, 0x3011, _cell_list(cells, True)) == encode(
        StopWarningIndication(4370, 0x3011, stopped)
    )
