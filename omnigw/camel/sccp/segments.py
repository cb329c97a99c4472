"""SCCP segmentation (Q.714 4.1.1.2): a message too long for one unitdata goes as XUDT
segments, and segments received are put back together. Pure; time is given.

A message is reassembled from segments of one sender (its calling address) and local
reference, arriving first to last; one that is not complete within `timeout` seconds, or
whose segments come out of order, is dropped (and counted by the caller), as Q.714 lets
a receiver do. At most `capacity` messages are pieced together at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from omnigw.camel.sccp.codec import Address, Segment, Unitdata

# Data per segment: the optional part (the segmentation parameter) must start within 255
# octets of its pointer, after both addresses (up to 15 octets each with a global title)
SEGMENT_DATA = 200
HOP_COUNTER = 15


def split(called: Address, calling: Address, data: bytes, reference: int) -> list[Unitdata]:
    """`data` as one UDT-sized XUDT if it fits, else as in-sequence XUDT segments."""
    chunks = [data[i : i + SEGMENT_DATA] for i in range(0, len(data), SEGMENT_DATA)] or [b""]
    if len(chunks) > 16:
        raise ValueError(f"{len(data)} octets need more than 16 segments")
    if len(chunks) == 1:
        return [Unitdata(called, calling, data, hop_counter=HOP_COUNTER)]
    last = len(chunks) - 1
    return [
        Unitdata(called, calling, chunk, hop_counter=HOP_COUNTER,
                 segment=Segment(i == 0, last - i, reference & 0xFFFFFF))
        for i, chunk in enumerate(chunks)
    ]  # fmt: skip


@dataclass(slots=True)
class _Partial:
    first: Unitdata
    expected: int  # the `remaining` the next segment must carry
    deadline: float
    data: list[bytes] = field(default_factory=list)


class Reassembly:
    def __init__(self, capacity: int = 1024, timeout: float = 10.0) -> None:
        self.capacity, self.timeout = capacity, timeout
        self._partial: dict[tuple[Address, int], _Partial] = {}

    def __len__(self) -> int:
        return len(self._partial)

    def add(self, udt: Unitdata, now: float) -> Unitdata | str | None:
        """The whole message once its last segment is in; None while more are to come; a
        reason (str) when the segment is dropped."""
        seg = udt.segment
        assert seg is not None
        key = (udt.calling, seg.reference)
        if seg.first:
            if seg.remaining == 0:
                return replace(udt, segment=None)
            if key not in self._partial and len(self._partial) >= self.capacity:
                return "too many messages being reassembled"
            self._partial[key] = _Partial(udt, seg.remaining - 1, now + self.timeout,
                                          [udt.data])  # fmt: skip
            return None
        partial = self._partial.get(key)
        if partial is None:
            return "a segment of no message being reassembled"
        if seg.remaining != partial.expected:
            del self._partial[key]
            return "a segment out of sequence"
        partial.data.append(udt.data)
        if seg.remaining:
            partial.expected -= 1
            return None
        del self._partial[key]
        return replace(partial.first, data=b"".join(partial.data), segment=None)

    def expired(self, now: float) -> int:
        """Drop the messages not complete by their deadline; how many were dropped."""
        late = [key for key, p in self._partial.items() if p.deadline <= now]
        for key in late:
            del self._partial[key]
        return len(late)
