"""The responding side of TCAP's transaction and dialogue handling (Q.774): which open
dialogue a message belongs to, and the answer the spec gives to one that belongs nowhere.

A Begin opens a dialogue when its application context is one of CAP's (the AARQ) and the
table has room; our first message back carries the AARE. What cannot be served gets what
Q.774 prescribes: an unknown context, a TC-U-ABORT with an AARE refusing it
("application-context-name-not-supported"); a full table, a P-Abort "resource
limitation"; a Continue for a dialogue we do not hold, a P-Abort "unrecognized
transaction id"; an unreadable transaction portion, a P-Abort "badly formatted" when the
sender's id could be read, else nothing. An End or Abort for an unknown dialogue is only
counted (nobody waits for an answer). Time is given, never read: a dialogue that hears
nothing for `idle_seconds` is handed back by `expired(now)`.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from omnigw.camel.cap.codec import CONTEXTS, Service
from omnigw.camel.sccp.codec import Address
from omnigw.camel.tcap.codec import (
    AssociateResult,
    Component,
    DecodeError,
    Diagnostic,
    Kind,
    Message,
    PAbort,
    Request,
    Response,
    UserAbort,
    decode,
)


@dataclass(slots=True)
class Dialogue:
    local: bytes  # our transaction id
    remote: bytes  # the gsmSSF's
    peer: Address  # where its messages came from, where ours go
    context: tuple[int, ...]
    version: int
    service: Service
    deadline: float
    accepted: bool = False  # our first message (with the AARE) has gone
    user: Any = field(default=None, repr=False)  # the gsmSCF machine serving it


@dataclass(slots=True)
class Opened:
    dialogue: Dialogue
    components: tuple[Component, ...]


@dataclass(slots=True)
class Continued:
    dialogue: Dialogue
    components: tuple[Component, ...]


@dataclass(slots=True)
class Ended:
    """The gsmSSF ended the dialogue (TC-END), possibly with last components."""

    dialogue: Dialogue
    components: tuple[Component, ...]


@dataclass(slots=True)
class Aborted:
    dialogue: Dialogue
    reason: str


@dataclass(slots=True)
class Refused:
    """Not for any dialogue: `answer` (if any) goes back; `cause` names it in metrics."""

    answer: Message | None
    cause: str
    reason: str


Verdict = Opened | Continued | Ended | Aborted | Refused


def p_abort(dtid: bytes, cause: PAbort) -> Message:
    return Message(Kind.ABORT, dtid=dtid, p_abort=cause)


def refusal(dtid: bytes, context: tuple[int, ...], diagnostic: Diagnostic) -> Message:
    """A TC-U-ABORT whose AARE refuses the dialogue the AARQ proposed."""
    aare = Response(context, AssociateResult.REJECT_PERMANENT, diagnostic)
    return Message(Kind.ABORT, dtid=dtid, dialogue=aare)


class Dialogues:
    def __init__(self, capacity: int, idle_seconds: float) -> None:
        self.capacity = capacity
        self.idle_seconds = idle_seconds
        self._open: OrderedDict[bytes, Dialogue] = OrderedDict()  # by local id, oldest first
        self._next = 0

    def __len__(self) -> int:
        return len(self._open)

    def receive(self, data: bytes, peer: Address, now: float) -> Verdict:
        try:
            msg = decode(data)
        except DecodeError as exc:
            answer = p_abort(exc.otid, exc.cause) if exc.otid is not None else None
            return Refused(answer, exc.cause.name.lower(), exc.reason)
        if msg.kind is Kind.BEGIN:
            return self._begin(msg, peer, now)
        if msg.dtid is None:  # a Unidirectional: CAP has no use for one
            return Refused(None, "unidirectional", "a unidirectional message")
        dialogue = self._open.get(msg.dtid)
        if dialogue is None:
            if msg.kind is Kind.CONTINUE and msg.otid is not None:
                answer = p_abort(msg.otid, PAbort.UNRECOGNIZED_TRANSACTION_ID)
                return Refused(answer, "unknown_dialogue", f"no dialogue {msg.dtid.hex()}")
            return Refused(None, "unknown_dialogue", f"{msg.kind.name} for {msg.dtid.hex()}")
        if msg.kind is Kind.CONTINUE:
            self._open.move_to_end(msg.dtid)
            dialogue.deadline = now + self.idle_seconds
            return Continued(dialogue, msg.components)
        del self._open[msg.dtid]
        if msg.kind is Kind.END:
            return Ended(dialogue, msg.components)
        reason = msg.p_abort.name.lower() if msg.p_abort is not None else "user abort"
        return Aborted(dialogue, reason)

    def _begin(self, msg: Message, peer: Address, now: float) -> Verdict:
        assert msg.otid is not None
        request = msg.dialogue
        if not isinstance(request, Request):
            answer = p_abort(msg.otid, PAbort.INCORRECT_TRANSACTION_PORTION)
            return Refused(answer, "no_application_context", "a Begin without an AARQ")
        known = CONTEXTS.get(request.context)
        if known is None:
            answer = refusal(msg.otid, request.context,
                             Diagnostic.APPLICATION_CONTEXT_NAME_NOT_SUPPORTED)  # fmt: skip
            name = ".".join(map(str, request.context))
            return Refused(answer, "application_context_not_supported", f"context {name}")
        if len(self._open) >= self.capacity:
            answer = p_abort(msg.otid, PAbort.RESOURCE_LIMITATION)
            return Refused(answer, "dialogues_full", f"{self.capacity} dialogues open")
        version, service = known
        dialogue = Dialogue(self._allocate(), msg.otid, peer, request.context, version,
                            service, now + self.idle_seconds)  # fmt: skip
        self._open[dialogue.local] = dialogue
        return Opened(dialogue, msg.components)

    def _allocate(self) -> bytes:
        while True:
            self._next = (self._next + 1) & 0xFFFFFFFF
            local = self._next.to_bytes(4, "big")
            if local not in self._open:
                return local

    # --- what we send ---------------------------------------------------------------------

    def message(self, dialogue: Dialogue, components: tuple[Component, ...], end: bool) -> Message:
        """A TC-CONTINUE, or a TC-END that closes the dialogue here."""
        accept = None if dialogue.accepted else Response(dialogue.context)
        dialogue.accepted = True
        if end:
            self._open.pop(dialogue.local, None)
            return Message(Kind.END, dtid=dialogue.remote, dialogue=accept, components=components)
        return Message(Kind.CONTINUE, otid=dialogue.local, dtid=dialogue.remote,
                       dialogue=accept, components=components)  # fmt: skip

    def abort(self, dialogue: Dialogue) -> Message:
        """A TC-U-ABORT from us (the dialogue's user gave up on it)."""
        self._open.pop(dialogue.local, None)
        if not dialogue.accepted:
            return refusal(dialogue.remote, dialogue.context, Diagnostic.NO_REASON_GIVEN)
        return Message(Kind.ABORT, dtid=dialogue.remote, dialogue=UserAbort())

    def expired(self, now: float) -> list[Dialogue]:
        """Dialogues idle past their deadline, removed from the table."""
        out = []
        for dialogue in list(self._open.values()):
            if dialogue.deadline > now:
                break
            out.append(self._open.pop(dialogue.local))
        return out
